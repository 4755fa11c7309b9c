using System.Text;
using System.Text.RegularExpressions;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// A delivered message read back as a mail client sees it: unfolded top-level headers, the download links of
/// its message/external-body parts (RFC 2231 continuations joined), and its text decoded from quoted-printable.
/// </summary>
public sealed partial class DeliveredMail
{
    private DeliveredMail(string path, string raw)
    {
        Path = path;
        Raw = raw;
        var end = raw.IndexOf("\n\n", StringComparison.Ordinal) is var lf and >= 0 ? lf : raw.Length;
        var crlf = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var headerEnd = crlf >= 0 && crlf < end ? crlf : end;
        Headers = Unfold(raw[..headerEnd]);
    }

    public string Path { get; }

    /// <summary>The whole message as text (Latin-1, so every byte maps to one character).</summary>
    public string Raw { get; }

    public long Size => Raw.Length;

    /// <summary>Top-level header fields in order, unfolded, as (name, value).</summary>
    public IReadOnlyList<(string Name, string Value)> Headers { get; }

    public static async Task<DeliveredMail> ReadAsync(string path, CancellationToken cancellationToken) =>
        new(path, Encoding.Latin1.GetString(await File.ReadAllBytesAsync(path, cancellationToken)));

    public static DeliveredMail FromBytes(byte[] message) => new("(imap)", Encoding.Latin1.GetString(message));

    public string? Header(string name) =>
        Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    public IEnumerable<string> HeaderValues(string name) =>
        Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value);

    /// <summary>The URL parameter of every message/external-body part, in order.</summary>
    public IReadOnlyList<string> Links
    {
        get
        {
            var links = new List<string>();
            foreach (Match part in ExternalBodyHeader().Matches(Raw))
            {
                var header = Unfold(part.Value).First().Value;
                var pieces = UrlSegment().Matches(header)
                    .Select(m => (Index: m.Groups["index"].Success ? int.Parse(m.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0, Text: m.Groups["value"].Value))
                    .OrderBy(p => p.Index)
                    .Select(p => p.Text);
                links.Add(string.Concat(pieces));
            }

            return links;
        }
    }

    /// <summary>The message with quoted-printable soft breaks and escapes undone (good enough to find the notice text).</summary>
    public string DecodedText =>
        QuotedPrintableEscape().Replace(Raw.Replace("=\r\n", "", StringComparison.Ordinal).Replace("=\n", "", StringComparison.Ordinal),
            m => ((char)Convert.ToByte(m.Groups[1].Value, 16)).ToString());

    /// <summary>True when the base64 of <paramref name="chunk"/> occurs anywhere in the message, line breaks ignored.</summary>
    public bool ContainsBase64Of(ReadOnlySpan<byte> chunk)
    {
        var flat = Raw.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
        return flat.Contains(Convert.ToBase64String(chunk), StringComparison.Ordinal);
    }

    public override string ToString() => $"{Path} ({Size} bytes)";

    private static List<(string Name, string Value)> Unfold(string block)
    {
        var fields = new List<(string, string)>();
        foreach (var line in block.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if ((line[0] == ' ' || line[0] == '\t') && fields.Count > 0)
            {
                var (name, value) = fields[^1];
                fields[^1] = (name, value + " " + line.Trim());
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }

        return fields;
    }

    // The Content-Type field of an external-body part with its continuation lines.
    [GeneratedRegex(@"^Content-Type:\s*message/external-body[^\n]*\n(?:[ \t][^\n]*\n)*", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex ExternalBodyHeader();

    [GeneratedRegex(@"\bURL(?:\*(?<index>\d+))?=""(?<value>[^""]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex UrlSegment();

    [GeneratedRegex("=([0-9A-F]{2})")]
    private static partial Regex QuotedPrintableEscape();
}
