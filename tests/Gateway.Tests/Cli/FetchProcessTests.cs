using System.Diagnostics;
using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Tests.Download;

namespace Detach.Gateway.Tests.Cli;

/// <summary>The running `detach serve` these tests download from (one per class: starting it costs seconds).</summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public ServeProcess Serve { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Serve = await ServeProcess.StartAsync();

    public async ValueTask DisposeAsync() => await Serve.DisposeAsync();
}

/// <summary>
/// `detach fetch` as a recipient runs it: its own process, in a folder of its own with no configuration, against
/// a `detach serve` process with another port and DataPath. Interruptions are real (the client is killed), the
/// terminal is a real pseudo-terminal (util-linux `script`), TLS goes through a real handshake.
/// </summary>
public sealed class FetchProcessTests(ServeFixture fixture) : IClassFixture<ServeFixture>, IDisposable
{
    private readonly DirectoryInfo _here = Directory.CreateTempSubdirectory("detach-recipient-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ServeProcess Serve => fixture.Serve;

    public void Dispose() => _here.Delete(recursive: true);

    private static string Through(InterruptingProxy proxy, string link, string scheme = "http") =>
        $"{scheme}://127.0.0.1:{proxy.Port}" + link[link.IndexOf("/d/", StringComparison.Ordinal)..];

    private Task<ProcessResult> FetchAsync(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        DetachProcess.RunAsync(_here.FullName, environment, null, ["fetch", .. args]);

    [Fact]
    public async Task A_killed_download_is_continued_to_a_byte_identical_file()
    {
        var original = DataFolder.RandomBytes(6 * 1024 * 1024, 70);
        var link = await Serve.StoreAsync(original, "dataset.bin");
        await using var proxy = new InterruptingProxy(new Uri(Serve.BaseUrl).Port) { StallAfter = 2_000_000 };
        var proxied = Through(proxy, link);
        var part = new FileInfo(Path.Combine(_here.FullName, $"detach-{link.Split("/d/")[1].Split('#')[0]}.part"));

        await using (var first = ChildProcess.Start(DetachProcess.StartInfo(_here.FullName, null, ["fetch", proxied])))
        {
            // Wait until the client wrote what the proxy let through, then kill it where it stands.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(proxy.Forwarded >= 2_000_000 && part.Exists && part.Length > 1_900_000))
            {
                Assert.True(DateTime.UtcNow < deadline && !first.HasExited, $"the first fetch got {proxy.Forwarded} bytes, wrote {(part.Exists ? part.Length : 0)}");
                await Task.Delay(50, Ct);
                part.Refresh();
            }

            first.Kill();
            await first.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        }

        part.Refresh();
        Assert.InRange(part.Length, 1_900_000, original.Length - 1);
        Assert.False(File.Exists(Path.Combine(_here.FullName, "dataset.bin")));

        proxy.StallAfter = null;
        var resumed = await FetchAsync(null, proxied, "--continue");

        Assert.True(resumed.ExitCode == ExitCodes.Ok, resumed.StandardError);
        Assert.Contains("resumed at", resumed.StandardError, StringComparison.Ordinal);
        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(await File.ReadAllBytesAsync(Path.Combine(_here.FullName, "dataset.bin"), Ct)));
        Assert.Equal(["dataset.bin"], _here.GetFiles().Select(f => f.Name));
        Assert.False(Directory.Exists(Path.Combine(_here.FullName, "data")), "a recipient's fetch created a data folder");
    }

    [Fact]
    public async Task A_terminal_gets_a_progress_line_with_rate_and_time_left_and_a_pipe_gets_none()
    {
        // util-linux `script` gives the fetch a real terminal.
        var script = InstalledPrograms.Require("script", "bsdutils");

        var original = DataFolder.RandomBytes(3 * 1024 * 1024, 71);
        var link = await Serve.StoreAsync(original, "slow.bin");
        await using var proxy = new InterruptingProxy(new Uri(Serve.BaseUrl).Port) { DelayPerChunk = TimeSpan.FromMilliseconds(8) };
        var proxied = Through(proxy, link);

        var command = $"dotnet '{Path.Combine(AppContext.BaseDirectory, "detach.dll")}' fetch '{proxied}' -o tty.bin";
        var run = await ChildProcess.RunAsync(
            script, ["--quiet", "--return", "--command", command, "/dev/null"], TimeSpan.FromMinutes(2), Ct, _here.FullName, new Dictionary<string, string> { ["TERM"] = "xterm" });
        var screen = run.StandardOutput;
        var piped = await FetchAsync(null, proxied, "-o", "pipe.bin");

        Assert.True(run.ExitCode == 0, screen);
        Assert.Matches(@"\rslow\.bin +\d+% \[#*\.*\] [\d.]+ (bytes|kB|MB) of 3\.1 MB  [\d.]+ (kB|MB)/s  (<1|\d+) s left", screen);
        Assert.Contains("100% [", screen, StringComparison.Ordinal);
        Assert.Equal(0, piped.ExitCode);
        Assert.DoesNotContain('\r', piped.StandardError);
        Assert.DoesNotContain("%", piped.StandardError, StringComparison.Ordinal);
        Assert.StartsWith("saved slow.bin (3.1 MB) as ", piped.StandardError, StringComparison.Ordinal);
        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(await File.ReadAllBytesAsync(Path.Combine(_here.FullName, "tty.bin"), Ct)));
    }

    [Fact]
    public async Task Https_uses_the_systems_trust_store_and_says_so_when_the_certificate_is_not_trusted()
    {
        using var certificates = new TestCertificates(_here.FullName);
        var original = DataFolder.RandomBytes(300_000, 72);
        var link = await Serve.StoreAsync(original, "secure.bin");
        await using var proxy = new InterruptingProxy(new Uri(Serve.BaseUrl).Port, certificates.Server);
        var secure = Through(proxy, link, "https");

        // SSL_CERT_FILE is how OpenSSL (and so .NET on Linux) is pointed at another trust store: here, one holding our authority.
        var trusted = await FetchAsync(new Dictionary<string, string> { ["SSL_CERT_FILE"] = certificates.AuthorityBundle }, secure, "-o", "trusted.bin");
        var untrusted = await FetchAsync(null, secure, "-o", "untrusted.bin");

        Assert.True(trusted.ExitCode == ExitCodes.Ok, trusted.StandardError);
        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(await File.ReadAllBytesAsync(Path.Combine(_here.FullName, "trusted.bin"), Ct)));
        Assert.DoesNotContain("plain http", trusted.StandardError, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Protocol, untrusted.ExitCode);
        Assert.Contains($"no secure connection to 127.0.0.1:{proxy.Port}", untrusted.StandardError, StringComparison.Ordinal);
        Assert.Contains("trust store", untrusted.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_here.FullName, "untrusted.bin")));
    }

    [Fact]
    public async Task Standard_output_gets_exactly_the_files_bytes()
    {
        var original = DataFolder.RandomBytes(500_000, 73);
        var link = await Serve.StoreAsync(original, "piped.bin");

        using var process = Process.Start(DetachProcess.StartInfo(_here.FullName, null, ["fetch", link, "-o", "-"]))!;
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        var stdout = new MemoryStream();
        await process.StandardOutput.BaseStream.CopyToAsync(stdout, Ct);
        await process.WaitForExitAsync(Ct);

        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(stdout.ToArray()));
        Assert.Contains("wrote piped.bin (500 kB) to standard output", await stderr, StringComparison.Ordinal);
        Assert.Empty(_here.GetFileSystemInfos());
    }

    [Fact]
    public async Task No_command_creates_a_data_folder_where_there_is_none()
    {
        var link = await Serve.StoreAsync(DataFolder.RandomBytes(10_000, 74));
        var unreachable = $"http://127.0.0.1:{FreePort.Next()}/d/bafkreiabc#{new string('A', 43)}";
        var commands = new (string[] Args, int Exit, string Says)[]
        {
            (["fetch", unreachable], ExitCodes.TempFail, "cannot reach"),
            (["fetch", "--local", link], ExitCodes.NoInput, "--local reads this instance's vault, but there is no vault here"),
            (["vault", "ls"], ExitCodes.NoInput, "there is no vault here: the data folder"),
            (["vault", "stats"], ExitCodes.NoInput, "there is no vault here"),
            (["vault", "revoke", "bafkreiabc"], ExitCodes.NoInput, "there is no vault here"),
            (["vault", "gc"], ExitCodes.NoInput, "there is no vault here"),
            (["vault", "push"], ExitCodes.NoInput, "there is no vault here"),
            (["check"], 1, "does not exist: start detach serve once"),
            (["config", "show"], ExitCodes.Ok, ""),
        };

        foreach (var (args, exit, says) in commands)
        {
            var result = await DetachProcess.RunAsync(_here.FullName, null, null, args);
            var output = result.StandardOutput + result.StandardError;
            Assert.True(result.ExitCode == exit, $"detach {string.Join(' ', args)} exited {result.ExitCode}: {output}");
            Assert.Contains(says, output, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(_here.FullName, "data")), $"detach {string.Join(' ', args)} created ./data");
            Assert.Empty(_here.GetFileSystemInfos());
        }
    }
}
