namespace Detach.Gateway.Processing;

/// <summary>
/// A private temporary file under {DataPath}/tmp that disappears when closed. Messages are spooled to disk
/// as they arrive, so a 100 MB attachment never needs 100 MB of memory.
/// </summary>
public static class SpoolFile
{
    public static FileStream Create(string dataPath)
    {
        var folder = Path.Combine(dataPath, "tmp");
        Directory.CreateDirectory(folder);
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 64 * 1024,
            // Not FileOptions.Asynchronous: on Linux that only moves each read/write to a thread-pool thread.
            Options = FileOptions.DeleteOnClose,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(Path.Combine(folder, $"{Guid.NewGuid():N}.eml"), options);
    }
}
