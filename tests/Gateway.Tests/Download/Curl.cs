namespace Detach.Gateway.Tests.Download;

/// <summary>Runs the real curl binary; tests skip with a clear message when it is not installed.</summary>
public static class Curl
{
    public static async Task<ProcessResult> RunAsync(string workingDirectory, params string[] arguments) =>
        await ChildProcess.RunAsync(
            InstalledPrograms.Require("curl", "curl"),
            ["--silent", "--show-error", "--max-time", "120", .. arguments],
            TimeSpan.FromMinutes(3),
            TestContext.Current.CancellationToken,
            workingDirectory);

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
