using System.Text;

namespace Detach.Mime;

/// <summary>RFC 2047 encoded words (B and Q), decoded leniently: any charset .NET or the code-page provider knows.</summary>
public static class EncodedWords
{
    /// <summary>Decodes every encoded word in <paramref name="text"/>; whitespace between adjacent words is dropped.</summary>
    public static string Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Contains("=?", StringComparison.Ordinal)) return text;
        var result = new StringBuilder(text.Length);
        int i = 0;
        int lastWordEnd = -1;
        // Bytes of consecutive words in the same charset are joined before decoding, so a multi-byte
        // character split across two words (common from some mailers) comes out whole.
        string? pendingCharset = null;
        var pending = new List<byte>();
        while (i < text.Length)
        {
            int start = text.IndexOf("=?", i, StringComparison.Ordinal);
            if (start < 0) break;
            if (!TryParseWord(text, start, out int end, out string charset, out byte[] bytes))
            {
                Flush();
                result.Append(text, i, start + 2 - i);
                i = start + 2;
                lastWordEnd = -1;
                continue;
            }
            bool adjacent = lastWordEnd >= 0 && string.IsNullOrWhiteSpace(text[i..start]);
            if (!adjacent || !string.Equals(charset, pendingCharset, StringComparison.OrdinalIgnoreCase))
            {
                Flush();
                if (!adjacent) result.Append(text, i, start - i);
            }
            pendingCharset = charset;
            pending.AddRange(bytes);
            i = end;
            lastWordEnd = end;
        }
        Flush();
        if (i < text.Length) result.Append(text, i, text.Length - i);
        return result.ToString();

        void Flush()
        {
            if (pending.Count == 0) return;
            var encoding = Charsets.Find(pendingCharset) ?? Charsets.Latin1;
            result.Append(encoding.GetString(pending.ToArray()));
            pending.Clear();
            pendingCharset = null;
        }
    }

    private static bool TryParseWord(string text, int start, out int end, out string charset, out byte[] bytes)
    {
        end = 0;
        charset = "";
        bytes = [];
        int q1 = text.IndexOf('?', start + 2);
        if (q1 < 0 || q1 + 2 >= text.Length || text[q1 + 2] != '?') return false;
        charset = text[(start + 2)..q1];
        if (charset.Length == 0 || charset.AsSpan().IndexOfAny(" \t\r\n") >= 0) return false;
        char encoding = char.ToUpperInvariant(text[q1 + 1]);
        int close = text.IndexOf("?=", q1 + 3, StringComparison.Ordinal);
        if (close < 0) return false;
        string payload = text[(q1 + 3)..close];
        if (payload.AsSpan().IndexOfAny(" \t\r\n") >= 0) return false;
        end = close + 2;
        if (encoding == 'B')
        {
            bytes = DecodeBase64Lenient(payload);
            return true;
        }
        if (encoding == 'Q')
        {
            bytes = DecodeQ(payload);
            return true;
        }
        return false;
    }

    private static byte[] DecodeQ(string payload)
    {
        var output = new List<byte>(payload.Length);
        for (int i = 0; i < payload.Length; i++)
        {
            char c = payload[i];
            if (c == '_') output.Add((byte)' ');
            else if (c == '=' && i + 2 < payload.Length && Uri.IsHexDigit(payload[i + 1]) && Uri.IsHexDigit(payload[i + 2]))
            {
                output.Add((byte)Convert.ToInt32(payload.Substring(i + 1, 2), 16));
                i += 2;
            }
            else output.Add(c < 256 ? (byte)c : (byte)'?');
        }
        return [.. output];
    }

    private static byte[] DecodeBase64Lenient(string payload)
    {
        var input = Encoding.Latin1.GetBytes(payload);
        var decoder = new Base64Decoder();
        var output = new byte[input.Length + 3];
        int n = decoder.Decode(input, output);
        n += decoder.Flush(output.AsSpan(n));
        return output.AsSpan(0, n).ToArray();
    }

    /// <summary>Encodes <paramref name="text"/> as one or more UTF-8 B words when it is not plain printable ASCII.</summary>
    public static string EncodeIfNeeded(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IsPrintableAscii(text) && !text.Contains("=?", StringComparison.Ordinal)) return text;
        var words = new List<string>();
        var rune = text.EnumerateRunes();
        var chunk = new StringBuilder();
        foreach (var r in rune)
        {
            // 45 bytes of UTF-8 per word keeps each word within 75 characters.
            if (Encoding.UTF8.GetByteCount(chunk.ToString()) + r.Utf8SequenceLength > 45)
            {
                words.Add(Word(chunk.ToString()));
                chunk.Clear();
            }
            chunk.Append(r.ToString());
        }
        if (chunk.Length > 0) words.Add(Word(chunk.ToString()));
        return string.Join(' ', words);

        static string Word(string s) => "=?utf-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(s)) + "?=";
    }

    internal static bool IsPrintableAscii(string text)
    {
        foreach (char c in text)
        {
            if (c is < ' ' or > '~') return false;
        }
        return true;
    }
}
