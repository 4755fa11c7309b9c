using Detach.Gateway.Processing;

namespace Detach.Gateway.Configuration;

/// <summary>Settings at the root of the configuration: where data lives and how links are addressed.</summary>
public sealed class DetachOptions
{
    private const long MaxTotalMessageMemoryBytes = 4L * 1024 * 1024 * 1024;

    /// <summary>Folder for the local store, the spool, the SQLite index and the Maildir (environment: DETACH__DataPath).</summary>
    public string DataPath { get; set; } = "./data";

    /// <summary>Absolute base URL recipients reach the download gateway at; links are {PublicUrl}/d/{cid}#{key}.</summary>
    public string PublicUrl { get; set; } = "http://localhost:8080";

    /// <summary>
    /// Bytes of one message being received (SMTP front or milter) held in memory; past it the message goes to a
    /// private file under DataPath/tmp. The default keeps nearly all mail, and attachments up to about 1.4 MiB, off
    /// the disk.
    /// </summary>
    public long MessageMemoryBytes { get; set; } = SpillStream.DefaultThreshold;

    /// <summary>
    /// Bytes all messages being received hold in memory together, both fronts counted; while it is spent, new
    /// messages go to files. The memory detach's peak grows by with concurrent mail (BENCHMARKS.md, issue 17).
    /// </summary>
    public long TotalMessageMemoryBytes { get; set; } = SpillBudget.DefaultBytes;

    public string FullDataPath => Path.GetFullPath(DataPath);

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(DataPath))
        {
            yield return "DataPath must name a folder (environment DETACH__DataPath).";
        }

        if (!Uri.TryCreate(PublicUrl, UriKind.Absolute, out var url)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            yield return $"PublicUrl must be an absolute http(s) URL such as https://files.example.com, not '{PublicUrl}'.";
        }
        else if (!string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.Fragment))
        {
            yield return "PublicUrl must not have a query or a fragment: links append /d/{cid}#{key} to it.";
        }
        else if (url.AbsoluteUri.TrimEnd('/').Length > 80)
        {
            // A link is PublicUrl + "/d/" + 59-character CID + "#" + 43-character key: keep it under 200 characters.
            yield return "PublicUrl must be at most 80 characters so that links stay under 200 characters.";
        }

        if (TotalMessageMemoryBytes is < 0 or > MaxTotalMessageMemoryBytes)
        {
            yield return $"TotalMessageMemoryBytes must be between 0 (every message on disk) and {MaxTotalMessageMemoryBytes} (4 GiB), not {TotalMessageMemoryBytes}.";
        }
        else if (MessageMemoryBytes < 0 || MessageMemoryBytes > TotalMessageMemoryBytes)
        {
            yield return $"MessageMemoryBytes must be between 0 (every message on disk) and TotalMessageMemoryBytes ({TotalMessageMemoryBytes}), not {MessageMemoryBytes}.";
        }
    }
}
