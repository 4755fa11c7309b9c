using System.Diagnostics;

namespace Detach.Gateway.Tests.Download;

public sealed record CurlResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the real curl binary; tests skip with a clear message when it is not installed.</summary>
public static class Curl
{
    private static readonly Lazy<string?> Executable = new(() =>
        new[] { "/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl" }.FirstOrDefault(File.Exists));

    public static string Path => Executable.Value ?? throw new InvalidOperationException("curl is not installed.");

    public static void SkipIfMissing()
    {
        if (Executable.Value is null)
        {
            Assert.Skip("curl is not installed (apt-get install curl): the download tests drive the real curl binary.");
        }
    }

    public static async Task<CurlResult> RunAsync(string workingDirectory, params string[] arguments)
    {
        SkipIfMissing();
        var start = new ProcessStartInfo(Path)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--silent");
        start.ArgumentList.Add("--show-error");
        start.ArgumentList.Add("--max-time");
        start.ArgumentList.Add("120");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("curl did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return new CurlResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Parses a header dump written with -D: the last response's status and headers.</summary>
    public static (int Status, Dictionary<string, string> Headers) ReadHeaderDump(string path)
    {
        var status = 0;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in File.ReadAllLines(path))
        {
            if (line.StartsWith("HTTP/", StringComparison.Ordinal))
            {
                status = int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                headers.Clear();
            }
            else if (line.IndexOf(':', StringComparison.Ordinal) is > 0 and var colon)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return (status, headers);
    }
}
