using System.Text;

namespace Detach.Smtp;

/// <summary>RFC 3461 xtext, used for XFORWARD/XCLIENT values and DSN ENVID/ORCPT: "+HH" for bytes outside 33-126, '+' and '='.</summary>
public static class Xtext
{
    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(value))
        {
            if (b is < 33 or > 126 or (byte)'+' or (byte)'=')
            {
                sb.Append('+').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append((char)b);
            }
        }

        return sb.ToString();
    }

    /// <summary>Decodes xtext; false on a malformed "+HH" escape. Bytes are read as UTF-8 (invalid ones become U+FFFD).</summary>
    public static bool TryDecode(string text, out string value)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Contains('+', StringComparison.Ordinal))
        {
            value = text;
            return true;
        }

        var bytes = new List<byte>(text.Length);
        int run = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] != '+')
            {
                continue;
            }

            // Characters between escapes go in as UTF-8, whole runs so surrogate pairs stay together.
            bytes.AddRange(Encoding.UTF8.GetBytes(text.Substring(run, i - run)));
            if (i == text.Length)
            {
                break;
            }

            if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
            {
                value = "";
                return false;
            }

            bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
            i += 2;
            run = i + 1;
        }

        value = Encoding.UTF8.GetString(bytes.ToArray());
        return true;
    }
}
