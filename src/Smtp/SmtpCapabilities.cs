namespace Detach.Smtp;

/// <summary>What a server announced in its EHLO/LHLO reply.</summary>
public sealed class SmtpCapabilities
{
    private readonly Dictionary<string, string> _keywords;

    private SmtpCapabilities(Dictionary<string, string> keywords)
    {
        _keywords = keywords;
        XforwardAttributes = Parameters("XFORWARD").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.ToUpperInvariant()).ToHashSet();
        if (long.TryParse(Parameters("SIZE"), out long size) && size > 0)
        {
            MaxSize = size;
        }
    }

    /// <summary>After HELO (no extensions).</summary>
    public static SmtpCapabilities None { get; } = new(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));

    /// <summary>Reads the keywords of an EHLO/LHLO reply (all lines after the first).</summary>
    public static SmtpCapabilities FromEhloReply(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var keywords = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in reply.Lines.Skip(1))
        {
            string trimmed = line.Trim();
            int space = trimmed.IndexOf(' ', StringComparison.Ordinal);
            string keyword = space < 0 ? trimmed : trimmed[..space];
            if (keyword.Length > 0)
            {
                keywords[keyword] = space < 0 ? "" : trimmed[(space + 1)..].Trim();
            }
        }

        return new SmtpCapabilities(keywords);
    }

    public bool Has(string keyword) => _keywords.ContainsKey(keyword);

    /// <summary>The text after the keyword ("" when absent or bare).</summary>
    public string Parameters(string keyword) => _keywords.TryGetValue(keyword, out string? p) ? p : "";

    public IReadOnlyCollection<string> Keywords => _keywords.Keys;

    public bool Pipelining => Has("PIPELINING");

    public bool StartTls => Has("STARTTLS");

    public bool EightBitMime => Has("8BITMIME");

    public bool SmtpUtf8 => Has("SMTPUTF8");

    public bool Chunking => Has("CHUNKING");

    public bool Dsn => Has("DSN");

    public bool EnhancedStatusCodes => Has("ENHANCEDSTATUSCODES");

    /// <summary>SIZE limit announced, null when none (or SIZE 0, "no limit").</summary>
    public long? MaxSize { get; }

    /// <summary>Upper-cased XFORWARD attribute names the server accepts (empty when XFORWARD is not offered).</summary>
    public IReadOnlySet<string> XforwardAttributes { get; }
}
