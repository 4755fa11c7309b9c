using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Detach.Smtp.Tests;

/// <summary>Finds and runs Postfix's smtp-sink and swaks; tests skip when they are not installed.</summary>
internal static class ExternalTools
{
    public static string? Find(string name)
    {
        string[] dirs = [.. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries), "/usr/sbin", "/usr/bin", "/usr/local/bin"];
        return dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }

    public static string Require(string name, string package) =>
        Find(name) ?? throw Xunit.Sdk.SkipException.ForSkip($"{name} is not installed (apt-get install {package}); skipping the test against it.");

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    public static bool IsRoot => Environment.UserName == "root";
}

/// <summary>A running smtp-sink that dumps each message into a directory.</summary>
internal sealed class SmtpSink : IAsyncDisposable
{
    private readonly Process _process;

    private SmtpSink(Process process, int port, string directory)
    {
        _process = process;
        Port = port;
        Directory = directory;
    }

    public int Port { get; }

    public string Directory { get; }

    public static async Task<SmtpSink> StartAsync(bool lmtp, CancellationToken cancellationToken)
    {
        string sink = ExternalTools.Require("smtp-sink", "postfix");
        string directory = Path.Combine(Path.GetTempPath(), $"detach-sink-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            // smtp-sink drops to "nobody" when started as root and must still write its dumps.
            File.SetUnixFileMode(directory, (UnixFileMode)0x1FF);
        }
        int port = ExternalTools.FreePort();
        var start = new ProcessStartInfo(sink) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        if (ExternalTools.IsRoot)
        {
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add("nobody");
        }

        if (lmtp)
        {
            start.ArgumentList.Add("-L");
        }

        start.ArgumentList.Add("-d");
        start.ArgumentList.Add(Path.Combine(directory, "msg."));
        start.ArgumentList.Add($"127.0.0.1:{port}");
        start.ArgumentList.Add("16");
        Process process = Process.Start(start)!;
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return new SmtpSink(process, port, directory);
            }
            catch (SocketException)
            {
                await Task.Delay(50, cancellationToken);
            }
        }

        process.Kill();
        throw new InvalidOperationException("smtp-sink did not start: " + await process.StandardError.ReadToEndAsync(cancellationToken));
    }

    /// <summary>The dumped transactions, waiting a little for smtp-sink to finish writing them.</summary>
    public async Task<string[]> DumpsAsync(int expected, CancellationToken cancellationToken)
    {
        for (int i = 0; i < 200; i++)
        {
            string[] files = System.IO.Directory.GetFiles(Directory);
            if (files.Length >= expected)
            {
                await Task.Delay(100, cancellationToken);
                return files.Order().Select(File.ReadAllText).ToArray();
            }

            await Task.Delay(50, cancellationToken);
        }

        return [];
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
