using System.Globalization;
using System.Text;

namespace Detach.Mime;

/// <summary>
/// The bytes that take a detached part's place: an RFC 4483 message/external-body part, the one line that
/// replaces a uuencoded block, the notice as a part of its own, and the multipart/mixed a whole-message
/// attachment becomes.
/// </summary>
internal static class ReplacementParts
{
    /// <summary>A text/plain part holding the notice, headers included, without the line ending that precedes a delimiter.</summary>
    public static byte[] NoticePart(IReadOnlyList<DetachedAttachment> attachments, DetachNotice notice, string eol)
    {
        string text = string.Join(eol, notice.PlainLines(attachments).Skip(1)) + eol;
        var head = Encoding.ASCII.GetBytes(
            "Content-Type: text/plain; charset=utf-8" + eol +
            "Content-Transfer-Encoding: quoted-printable" + eol +
            "Content-Disposition: inline" + eol + eol);
        return [.. head, .. QuotedPrintableBodyEncoder.EncodeAll(Encoding.UTF8.GetBytes(text), eol)];
    }

    /// <summary>The line that takes a uuencoded block's place in its text body: name, size and link.</summary>
    public static byte[] UUBlockReplacement(StoredPart part, DetachNotice notice)
    {
        var body = part.Entity;
        string text = notice.UUBlockLine(part.Attachment) + (part.Target.Block!.EndsWithLineBreak ? body.LineEnding : "");
        bool sevenBit = body.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit;
        return NoticeFallback.Encode(text, sevenBit ? Encoding.ASCII : Charsets.Find(body.ContentType.Parameters["charset"]) ?? Encoding.ASCII);
    }

    /// <summary>RFC 4483 / RFC 2017 message/external-body part with the original type, name and size in its phantom header.</summary>
    public static byte[] ExternalBodyPart(StoredPart part, DetachNotice notice, string eol)
    {
        var a = part.Attachment;
        if (a.Withheld is not null)
        {
            return WithheldPart(a, notice, eol);
        }

        var sb = new StringBuilder(512);
        sb.Append("Content-Type: message/external-body; access-type=URL");
        AppendParameter(sb, "URL", SafeUrl(a.Link), eol);
        if (a.ExpiresAt is { } expires)
        {
            AppendParameter(sb, "expiration", expires.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture), eol);
        }
        AppendParameter(sb, "size", a.Size.ToString(CultureInfo.InvariantCulture), eol);
        sb.Append(eol);
        sb.Append("Content-Description:");
        foreach (var word in EncodedWords.EncodeIfNeeded(notice.Description(a)).Split(' '))
        {
            sb.Append(sb.Length - LastLineStart(sb) + word.Length > 76 ? eol + " " : " ").Append(word);
        }
        sb.Append(eol).Append(eol);
        sb.Append("Content-Type: ").Append(DetachPlanner.SafeMimeType(part.Descriptor.ContentType));
        AppendParameter(sb, "name", a.FileName, eol);
        sb.Append(eol);
        sb.Append("Content-Disposition: attachment");
        AppendParameter(sb, "filename", a.FileName, eol);
        AppendParameter(sb, "size", a.Size.ToString(CultureInfo.InvariantCulture), eol);
        sb.Append(eol);
        if (part.Descriptor.ContentId is { } id && id.Length < 900 && EncodedWords.IsPrintableAscii(id) && !id.Contains(' ', StringComparison.Ordinal))
        {
            sb.Append("Content-ID: <").Append(id).Append('>').Append(eol);
        }
        sb.Append(eol);
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    /// <summary>What takes the place of a part the sink withheld: an inline line in each language saying what it was and why it is gone.</summary>
    private static byte[] WithheldPart(DetachedAttachment a, DetachNotice notice, string eol)
    {
        string text = string.Join(eol, notice.WithheldLines(a)) + eol;
        var head = Encoding.ASCII.GetBytes(
            "Content-Type: text/plain; charset=utf-8" + eol +
            "Content-Transfer-Encoding: quoted-printable" + eol +
            "Content-Disposition: inline" + eol + eol);
        return [.. head, .. QuotedPrintableBodyEncoder.EncodeAll(Encoding.UTF8.GetBytes(text), eol)];
    }

    private static int LastLineStart(StringBuilder sb)
    {
        for (int i = sb.Length - 1; i >= 0; i--)
        {
            if (sb[i] == '\n')
            {
                return i + 1;
            }
        }
        return 0;
    }

    /// <summary>Links are ASCII; anything else (or a quote) is percent-encoded so the parameter stays a quoted string.</summary>
    private static string SafeUrl(string link)
    {
        var sb = new StringBuilder(link.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(link))
        {
            if (b is > 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Appends "; name=value" on its own folded line: quoted when short ASCII, RFC 2231 continuations
    /// (name*0=, name*1=...) when long, RFC 2231 UTF-8 percent-encoding when not ASCII.
    /// </summary>
    private static void AppendParameter(StringBuilder sb, string name, string value, string eol)
    {
        const int Segment = 60;
        bool ascii = EncodedWords.IsPrintableAscii(value);
        if (value.Length is > 0 and <= 20 && value.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
        {
            sb.Append(';').Append(eol).Append('\t').Append(name).Append('=').Append(value); // a number is a token
            return;
        }
        if (ascii && value.Length <= Segment)
        {
            sb.Append(';').Append(eol).Append('\t').Append(name).Append("=\"").Append(Quote(value)).Append('"');
            return;
        }
        if (ascii)
        {
            int index = 0;
            for (int i = 0; i < value.Length; i += Segment, index++)
            {
                string piece = value.Substring(i, Math.Min(Segment, value.Length - i));
                sb.Append(';').Append(eol).Append('\t').Append(name).Append('*').Append(index.ToString(CultureInfo.InvariantCulture))
                  .Append("=\"").Append(Quote(piece)).Append('"');
            }
            return;
        }
        var encoded = new List<string>();
        foreach (byte b in Encoding.UTF8.GetBytes(value))
        {
            bool attrChar = b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'!' or (byte)'#' or (byte)'$' or (byte)'&' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';
            encoded.Add(attrChar ? ((char)b).ToString() : "%" + b.ToString("X2", CultureInfo.InvariantCulture));
        }
        var segments = new List<string>();
        var current = new StringBuilder("utf-8''");
        foreach (var token in encoded)
        {
            if (current.Length + token.Length > Segment)
            {
                segments.Add(current.ToString());
                current.Clear();
            }
            current.Append(token);
        }
        segments.Add(current.ToString());
        if (segments.Count == 1)
        {
            sb.Append(';').Append(eol).Append('\t').Append(name).Append("*=").Append(segments[0]);
            return;
        }
        for (int i = 0; i < segments.Count; i++)
        {
            sb.Append(';').Append(eol).Append('\t').Append(name).Append('*').Append(i.ToString(CultureInfo.InvariantCulture)).Append("*=").Append(segments[i]);
        }

        static string Quote(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
    }

    /// <summary>
    /// When the whole message is the attachment: keep its non-content headers and make it a multipart/mixed of
    /// the notice and the external-body part.
    /// </summary>
    public static byte[] RootReplacement(MimeEntity root, StoredPart part, IReadOnlyList<DetachedAttachment> attachments, DetachNotice notice)
    {
        string eol = root.LineEnding;
        var bytes = new List<byte>(2048);
        foreach (var field in root.Headers)
        {
            string name = field.Name;
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || name.Equals("MIME-Version", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            bytes.AddRange(field.Raw.Span);
            if (field.Raw.Span[^1] != '\n')
            {
                bytes.AddRange(Encoding.ASCII.GetBytes(eol));
            }
        }
        string boundary = "=_detach_" + Guid.NewGuid().ToString("N");
        bytes.AddRange(Encoding.ASCII.GetBytes(
            "MIME-Version: 1.0" + eol +
            "Content-Type: multipart/mixed;" + eol + "\tboundary=\"" + boundary + "\"" + eol + eol +
            "--" + boundary + eol));
        bytes.AddRange(NoticePart(attachments, notice, eol));
        bytes.AddRange(Encoding.ASCII.GetBytes(eol + "--" + boundary + eol));
        bytes.AddRange(ExternalBodyPart(part, notice, eol));
        bytes.AddRange(Encoding.ASCII.GetBytes(eol + "--" + boundary + "--" + eol));
        return [.. bytes];
    }
}
