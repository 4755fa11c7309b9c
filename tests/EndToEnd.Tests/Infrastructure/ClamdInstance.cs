using System.Globalization;
using Detach.Scanning;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>How a <see cref="ClamdInstance"/> is set up.</summary>
public sealed record ClamdOptions
{
    /// <summary>clamd's StreamMaxLength: the longest INSTREAM it takes.</summary>
    public long StreamMaxLength { get; init; } = 25 * 1024 * 1024;

    /// <summary>clamd's ScanArchive: unpack zip and other archives and scan what is inside.</summary>
    public bool ScanArchive { get; init; } = true;
}

/// <summary>
/// A private clamd (Debian's clamav-daemon) from its own clamd.conf in a temporary folder: TCP on a free
/// 127.0.0.1 port and a unix socket in the folder, a signature database holding only the EICAR test signature
/// (<see cref="EicarTestFile"/>; the official databases cannot be downloaded here, and freshclam is never run),
/// log in a file. It never touches /etc/clamav or /var/lib/clamav. <see cref="StopAsync"/> kills it, for tests of a
/// scanner that went away; <see cref="StartAgainAsync"/> brings it back on the same port and socket.
/// </summary>
public sealed class ClamdInstance : IAsyncDisposable
{
    private ChildProcess? _clamd;

    private ClamdInstance(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    /// <summary>The instance folder: clamd.conf, db/, tmp/, clamd.ctl, clamd.log.</summary>
    public string Directory { get; }

    public int Port { get; }

    public string ConfigFile => Path.Combine(Directory, "clamd.conf");

    public string SocketPath => Path.Combine(Directory, "clamd.ctl");

    public string LogFile => Path.Combine(Directory, "clamd.log");

    /// <summary>The Scan:Clamd setting for TCP.</summary>
    public string TcpEndpoint => $"tcp://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The Scan:Clamd setting for the unix socket.</summary>
    public string UnixEndpoint => "unix:" + SocketPath;

    /// <summary>A client for this instance.</summary>
    public ClamdClient Client(string? endpoint = null, long? maxStreamBytes = null)
    {
        Assert.True(ClamdEndpoint.TryParse(endpoint ?? TcpEndpoint, out var parsed, out var error), error);
        return new ClamdClient(new ClamdClientOptions { Endpoint = parsed, MaxStreamBytes = maxStreamBytes ?? 25 * 1024 * 1024 });
    }

    /// <summary>Writes the configuration and the database, starts clamd, and waits until it answers PING.</summary>
    public static Task<ClamdInstance> StartAsync(ClamdOptions options, CancellationToken cancellationToken) =>
        FreePort.RetryWhenTakenAsync(() => StartOnFreePortAsync(options, cancellationToken));

    public static Task<ClamdInstance> StartAsync(CancellationToken cancellationToken) => StartAsync(new ClamdOptions(), cancellationToken);

    private static async Task<ClamdInstance> StartOnFreePortAsync(ClamdOptions options, CancellationToken cancellationToken)
    {
        PeerBinaries.RequireClamd();
        var directory = System.IO.Directory.CreateTempSubdirectory("detach-clamd-").FullName;
        var instance = new ClamdInstance(directory, FreePort.Next());
        try
        {
            await instance.ConfigureAsync(options, cancellationToken);
            await instance.StartAgainAsync(cancellationToken);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts clamd (again) on the same port and socket; returns once it answers PING.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        if (_clamd is { HasExited: false })
        {
            return;
        }

        File.Delete(SocketPath);
        _clamd = ChildProcess.Start(PeerBinaries.Clamd!, ["--config-file=" + ConfigFile]);
        try
        {
            // clamd loads its database before it binds, so a PONG means it is ready to scan.
            await FreePort.WaitUntilListeningAsync(Port, TimeSpan.FromSeconds(60), cancellationToken, _clamd);
            Assert.True(await Client().PingAsync(cancellationToken), "clamd did not answer PONG");
        }
        catch (Exception e) when (e is not OperationCanceledException and not Xunit.Sdk.SkipException)
        {
            var log = await LogFiles.TailAsync(LogFile, 30, CancellationToken.None);
            throw new InvalidOperationException(
                $"clamd in {Directory} did not start.\n{_clamd.StandardOutput}{_clamd.StandardError}\nLog:\n{log}", e);
        }
    }

    /// <summary>Kills clamd: the scanner is down until <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_clamd is { } clamd)
        {
            _clamd = null;
            await clamd.DisposeAsync();
        }
    }

    public Task<string> ReadLogAsync(CancellationToken cancellationToken) => LogFiles.ReadAsync(LogFile, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (!TestDirectories.Kept)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still closing; the temp folder goes with the OS's cleanup.
            }
        }
    }

    private async Task ConfigureAsync(ClamdOptions options, CancellationToken cancellationToken)
    {
        var database = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "db")).FullName;
        var temporary = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "tmp")).FullName;
        await File.WriteAllTextAsync(Path.Combine(database, "detach-test.ndb"), EicarTestFile.NdbSignature + "\n", cancellationToken);
        var config = PostfixTemplates.Render(ConfigTemplate, new Dictionary<string, string>
        {
            ["PORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["SOCKET"] = SocketPath,
            ["DATABASE"] = database,
            ["TEMPORARY"] = temporary,
            ["LOG"] = LogFile,
            ["STREAM_MAX_LENGTH"] = options.StreamMaxLength.ToString(CultureInfo.InvariantCulture),
            ["SCAN_ARCHIVE"] = options.ScanArchive ? "yes" : "no",
        });
        await File.WriteAllTextAsync(ConfigFile, config, cancellationToken);
    }

    // Debian 12's clamd 1.0/1.4 syntax. No User line: as root the tests' clamd stays root, so it can read the
    // folder and create the socket without the clamav user; SelfCheck off, nothing to reload.
    private const string ConfigTemplate = """
        # Private clamd test instance written by ClamdInstance (tests/EndToEnd.Tests).
        Foreground yes
        TCPSocket {{PORT}}
        TCPAddr 127.0.0.1
        LocalSocket {{SOCKET}}
        LocalSocketMode 660
        DatabaseDirectory {{DATABASE}}
        TemporaryDirectory {{TEMPORARY}}
        LogFile {{LOG}}
        LogTime yes
        StreamMaxLength {{STREAM_MAX_LENGTH}}
        ScanArchive {{SCAN_ARCHIVE}}
        ScanMail yes
        SelfCheck 0
        MaxThreads 4
        """;
}
