using System.Text;

namespace Detach.Mime;

/// <summary>
/// Parameters of a structured header (Content-Type, Content-Disposition) with RFC 2231 continuations,
/// charsets and languages resolved, and RFC 2047 words in plain values decoded. Lenient: it never throws.
/// </summary>
public sealed class HeaderParameters
{
    private readonly Dictionary<string, string> _values;

    private HeaderParameters(Dictionary<string, string> values) => _values = values;

    public static HeaderParameters Empty { get; } = new(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));

    public IEnumerable<string> Names => _values.Keys;

    public string? this[string name] => _values.TryGetValue(name, out var v) ? v : null;

    /// <summary>Splits "leading; a=b; c*0*=..." into the leading token and the parameters.</summary>
    public static HeaderParameters Parse(string value, out string leading)
    {
        ArgumentNullException.ThrowIfNull(value);
        int i = 0;
        int semi = IndexOfUnquoted(value, ';', 0);
        leading = StripComments(semi < 0 ? value : value[..semi]).Trim();
        if (semi < 0) return Empty;
        i = semi + 1;

        var plain = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var extended = new Dictionary<string, List<(int Index, bool Encoded, string Value)>>(StringComparer.OrdinalIgnoreCase);
        while (i < value.Length)
        {
            int eq = value.IndexOf('=', i);
            int nextSemi = value.IndexOf(';', i);
            if (eq < 0 || (nextSemi >= 0 && nextSemi < eq))
            {
                if (nextSemi < 0) break;
                i = nextSemi + 1;
                continue;
            }
            string name = value[i..eq].Trim();
            i = eq + 1;
            while (i < value.Length && value[i] is ' ' or '\t') i++;
            string paramValue;
            if (i < value.Length && value[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < value.Length && value[i] != '"')
                {
                    if (value[i] == '\\' && i + 1 < value.Length) i++;
                    sb.Append(value[i]);
                    i++;
                }
                i++;
                paramValue = sb.ToString();
                int after = value.IndexOf(';', Math.Min(i, value.Length));
                i = after < 0 ? value.Length : after + 1;
            }
            else
            {
                // Unquoted values are read up to the next ';' so that broken senders' spaces and
                // 8-bit names (filename=my file.pdf) survive.
                int end = value.IndexOf(';', i);
                if (end < 0) end = value.Length;
                paramValue = StripComments(value[i..end]).Trim();
                i = end + 1;
            }
            if (name.Length == 0) continue;

            int star = name.IndexOf('*', StringComparison.Ordinal);
            if (star < 0)
            {
                plain.TryAdd(name, paramValue);
                continue;
            }
            string baseName = name[..star];
            string rest = name[(star + 1)..];
            bool encoded = rest.EndsWith('*');
            if (encoded) rest = rest[..^1];
            int index = 0;
            if (rest.Length == 0)
            {
                encoded = true; // name*=charset'lang'value
            }
            else if (!int.TryParse(rest, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index) || index > 10_000)
            {
                continue;
            }
            if (!extended.TryGetValue(baseName, out var segments)) extended[baseName] = segments = [];
            if (segments.Count < 1000 && !segments.Exists(s => s.Index == index)) segments.Add((index, encoded, paramValue));
        }

        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, v) in plain) result[name] = v.Contains("=?", StringComparison.Ordinal) ? EncodedWords.Decode(v) : v;
        foreach (var (name, segments) in extended)
        {
            string? decoded = Assemble(segments);
            if (decoded is not null) result[name] = decoded; // RFC 2231 value wins over a plain one
        }
        return new HeaderParameters(result);
    }

    private static string? Assemble(List<(int Index, bool Encoded, string Value)> segments)
    {
        segments.Sort((a, b) => a.Index.CompareTo(b.Index));
        string? charset = null;
        var result = new StringBuilder();
        var bytes = new List<byte>();
        for (int s = 0; s < segments.Count; s++)
        {
            var (_, encoded, text) = segments[s];
            if (s == 0 && encoded)
            {
                // charset'language'value; a missing pair of quotes means a sender forgot them.
                int q1 = text.IndexOf('\'', StringComparison.Ordinal);
                int q2 = q1 < 0 ? -1 : text.IndexOf('\'', q1 + 1);
                if (q1 >= 0 && q2 > q1)
                {
                    charset = text[..q1];
                    text = text[(q2 + 1)..];
                }
            }
            if (encoded)
            {
                PercentDecode(text, bytes);
            }
            else
            {
                // Plain segments are already text; the bytes before them are decoded in the declared charset.
                Flush();
                result.Append(text);
            }
        }
        Flush();
        return result.ToString();

        void Flush()
        {
            if (bytes.Count == 0) return;
            var array = bytes.ToArray();
            var encoding = Charsets.Find(charset);
            result.Append(encoding is null ? Charsets.DecodeHeaderBytes(array) : encoding.GetString(array));
            bytes.Clear();
        }
    }

    private static void PercentDecode(string text, List<byte> output)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '%' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                output.Add((byte)Convert.ToInt32(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c < 128)
            {
                output.Add((byte)c);
            }
            else
            {
                output.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
    }

    private static int IndexOfUnquoted(string value, char c, int start)
    {
        bool quoted = false;
        for (int i = start; i < value.Length; i++)
        {
            if (value[i] == '"') quoted = !quoted;
            else if (value[i] == '\\' && quoted) i++;
            else if (value[i] == c && !quoted) return i;
        }
        return -1;
    }

    private static string StripComments(string value)
    {
        if (!value.Contains('(', StringComparison.Ordinal)) return value;
        var sb = new StringBuilder(value.Length);
        int depth = 0;
        foreach (char c in value)
        {
            if (c == '(') depth++;
            else if (c == ')' && depth > 0) depth--;
            else if (depth == 0) sb.Append(c);
        }
        return sb.ToString();
    }
}
