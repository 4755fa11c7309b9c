using System.Text;

namespace Detach.Mime;

/// <summary>RFC 2047 encoded words: decoded by MimeKit (<see cref="HeaderDecoding"/>), written here for the headers we generate.</summary>
public static class EncodedWords
{
    /// <summary>Decodes every encoded word in <paramref name="text"/> (any charset, the broken forms senders write).</summary>
    public static string Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return HeaderDecoding.DecodeText(text);
    }

    /// <summary>Encodes <paramref name="text"/> as one or more UTF-8 B words when it is not plain printable ASCII.</summary>
    public static string EncodeIfNeeded(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IsPrintableAscii(text) && !text.Contains("=?", StringComparison.Ordinal))
        {
            return text;
        }

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
        if (chunk.Length > 0)
        {
            words.Add(Word(chunk.ToString()));
        }

        return string.Join(' ', words);

        static string Word(string s) => "=?utf-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(s)) + "?=";
    }

    internal static bool IsPrintableAscii(string text)
    {
        foreach (char c in text)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }
        return true;
    }
}
