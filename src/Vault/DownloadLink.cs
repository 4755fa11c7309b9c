using Detach.Crypto;

namespace Detach.Vault;

/// <summary>
/// The link that replaces an attachment: {PublicUrl}/d/{cid}#{linkKey}. The key travels only in the
/// fragment, which browsers never send to a server, so it stays out of access logs and Referer headers.
/// </summary>
public sealed record DownloadLink(string BaseUrl, string Cid, byte[] LinkKey)
{
    public const string PathPrefix = "/d/";

    public static string Build(string publicUrl, string cid, ReadOnlySpan<byte> linkKey) =>
        $"{publicUrl.TrimEnd('/')}{PathPrefix}{cid}#{LinkKeyText.Encode(linkKey)}";

    /// <summary>Parses a link; the error never repeats the key.</summary>
    public static DownloadLink Parse(string link)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        if (hash < 0)
        {
            throw new FormatException("The link has no key: it must end in #<key> (copy the whole link from the mail).");
        }

        var key = LinkKeyText.Parse(link[(hash + 1)..]);
        if (!Uri.TryCreate(link[..hash], UriKind.Absolute, out var url))
        {
            throw new FormatException("The link is not an absolute URL such as https://files.example.com/d/<cid>#<key>.");
        }

        var path = url.AbsolutePath;
        var marker = path.LastIndexOf(PathPrefix, StringComparison.Ordinal);
        var cid = marker < 0 ? "" : path[(marker + PathPrefix.Length)..];
        if (cid.Length == 0 || cid.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException("The link's path must end in /d/<cid>.");
        }

        var baseUrl = url.GetLeftPart(UriPartial.Authority) + path[..marker];
        return new DownloadLink(baseUrl, cid, key);
    }

    public override string ToString() => $"{BaseUrl}{PathPrefix}{Cid}#…";
}
