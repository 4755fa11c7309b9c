
namespace Detach.Gateway.Tests.Download;

/// <summary>
/// A data folder that can be made full: a small tmpfs of its own when the tests run as root (as CI does), else a
/// folder made read-only, the closest an unprivileged user gets (writes fail, reads work). Root ignores file modes,
/// so a root that cannot mount skips the test with a message.
/// </summary>
public sealed class FillableDataFolder : IDisposable
{
    private readonly bool _mounted;

    private FillableDataFolder(string path, bool mounted)
    {
        Path = path;
        this._mounted = mounted;
    }

    public string Path { get; }

    public static FillableDataFolder Create()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("A full data folder is made with a tmpfs or file modes, on Unix hosts.");
        }

        var path = Directory.CreateTempSubdirectory("detach-full-").FullName;
        if (Environment.UserName != "root")
        {
            return new FillableDataFolder(path, mounted: false);
        }

        if (Run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", path) != 0)
        {
            Directory.Delete(path);
            Assert.Skip("Running as root without the right to mount a tmpfs: root ignores file modes, so the data folder cannot be made full.");
        }

        return new FillableDataFolder(path, mounted: true);
    }

    /// <summary>Fills the tmpfs to the last byte (or makes the folder read-only), then checks that a write fails.</summary>
    public void Fill()
    {
        if (_mounted)
        {
            var chunk = new byte[64 * 1024];
            using var filler = new FileStream(System.IO.Path.Combine(Path, "filler"), FileMode.CreateNew);
            try
            {
                while (true)
                {
                    filler.Write(chunk);
                    filler.Flush();
                }
            }
            catch (IOException)
            {
                // ENOSPC: the folder is full.
            }
        }
        else if (!OperatingSystem.IsWindows())
        {
            SetWritable(Path, writable: false);
        }

        Assert.ThrowsAny<Exception>(() => File.WriteAllBytes(System.IO.Path.Combine(Path, "probe"), new byte[64 * 1024]));
    }

    public void Dispose()
    {
        if (_mounted)
        {
            Run("umount", "--lazy", Path);
        }
        else if (!OperatingSystem.IsWindows())
        {
            SetWritable(Path, writable: true);
        }

        Directory.Delete(Path, recursive: true);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void SetWritable(string folder, bool writable)
    {
        var write = UnixFileMode.UserWrite;
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).Append(folder))
        {
            var mode = File.GetUnixFileMode(entry);
            File.SetUnixFileMode(entry, writable ? mode | write : mode & ~(write | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
        }
    }

    private static int Run(string program, params string[] arguments) =>
        ChildProcess.RunAsync(program, arguments, TimeSpan.FromMinutes(1), CancellationToken.None).GetAwaiter().GetResult().ExitCode;
}
