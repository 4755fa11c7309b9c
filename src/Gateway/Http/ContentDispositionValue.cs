using System.Text;

namespace Detach.Gateway.Http;

/// <summary>
/// Content-Disposition: attachment with both an ASCII filename="..." and an RFC 8187 filename*=UTF-8''...
/// (RFC 6266 section 4.3): modern clients take the second, old ones the first.
/// </summary>
public static class ContentDispositionValue
{
    public static string Attachment(string? originalName)
    {
        var saved = FileNameText.ForSaving(originalName);
        var ascii = FileNameText.AsciiFallback(saved);
        var value = new StringBuilder("attachment; filename=\"").Append(ascii).Append('"');
        if (!string.Equals(ascii, saved, StringComparison.Ordinal))
        {
            value.Append("; filename*=UTF-8''").Append(PercentEncode(saved));
        }

        return value.ToString();
    }

    /// <summary>RFC 8187 value-chars: attr-char stays, every other UTF-8 byte becomes %XX.</summary>
    private static string PercentEncode(string text)
    {
        var builder = new StringBuilder(text.Length * 3);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            var length = rune.EncodeToUtf8(bytes);
            for (var i = 0; i < length; i++)
            {
                var b = bytes[i];
                if (IsAttrChar(b))
                {
                    builder.Append((char)b);
                }
                else
                {
                    builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        return builder.ToString();
    }

    private static bool IsAttrChar(byte b) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
        || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'&' or (byte)'+' or (byte)'-' or (byte)'.'
            or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';
}
