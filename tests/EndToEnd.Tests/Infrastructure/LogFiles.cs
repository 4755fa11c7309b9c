using System.Text;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>Reading log files a running peer is still writing.</summary>
public static class LogFiles
{
    /// <summary>The whole file so far; empty while it does not exist.</summary>
    public static async Task<string> ReadAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = new FileStream(
                path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return await reader.ReadToEndAsync(cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return string.Empty;
        }
    }

    /// <summary>The last <paramref name="lines"/> lines, for failure messages.</summary>
    public static async Task<string> TailAsync(string path, int lines, CancellationToken cancellationToken) =>
        string.Join('\n', (await ReadAsync(path, cancellationToken)).TrimEnd('\n').Split('\n').TakeLast(lines));
}
