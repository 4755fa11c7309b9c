using System.Buffers;
using System.Text;

namespace Detach.Mime;

/// <summary>
/// Where the notice listing the detached files goes: appended to the first inline text/plain body, inserted
/// before &lt;/body&gt; in the first inline text/html body (re-encoding bodies in base64 or quoted-printable), or,
/// when no body can take it, a new first part of the top multipart.
/// </summary>
internal static class NoticeEdits
{
    public static async Task<List<Edit>> PlanAsync(MimeStructure structure, IReadOnlyList<StoredPart> stored, IReadOnlyList<DetachedAttachment> attachments,
        DetachNotice notice, CancellationToken cancellationToken)
    {
        var root = structure.Root;
        var edits = new List<Edit>();
        var detachedSet = stored.Where(s => s.Target.IsWholePart).Select(s => s.Entity).ToHashSet();
        var bodiesWithUUBlocks = stored.Where(s => !s.Target.IsWholePart).Select(s => s.Entity).ToHashSet();
        int noticed = 0;
        foreach (var body in FindTextBodies(root, detachedSet))
        {
            // A body that lost uuencoded blocks is edited in place, so it cannot also be re-encoded whole.
            var bodyEdits = await ForBodyAsync(structure, body, attachments, notice, allowReencoding: !bodiesWithUUBlocks.Contains(body), cancellationToken).ConfigureAwait(false);
            if (bodyEdits.Count == 0)
            {
                continue;
            }

            edits.AddRange(bodyEdits);
            noticed++;
        }
        if (noticed == 0 && root.IsMultipart && root.Children.Count > 0)
        {
            // No text body to extend: the notice becomes the first part of the top multipart.
            var first = root.Children[0];
            string eol = root.LineEnding;
            byte[] bytes = [.. ReplacementParts.NoticePart(attachments, notice, eol), .. Encoding.ASCII.GetBytes(eol + "--"), .. Encoding.UTF8.GetBytes(root.Boundary!.TrimEnd(' ', '\t')), .. Encoding.ASCII.GetBytes(eol)];
            edits.Add(Edit.Insert(first.HeaderStart, bytes));
        }
        return edits;
    }

    /// <summary>The first inline text/plain and the first inline text/html of the message (not inside attachments or signed parts).</summary>
    private static List<MimeEntity> FindTextBodies(MimeEntity root, HashSet<MimeEntity> detached)
    {
        MimeEntity? plain = null;
        MimeEntity? html = null;
        var stack = new Stack<MimeEntity>();
        stack.Push(root);
        while (stack.Count > 0 && (plain is null || html is null))
        {
            var e = stack.Pop();
            if (detached.Contains(e) || e.IsOpaque || AttachmentPolicy.ProtectedReason(e.MimeType) is not null)
            {
                continue;
            }

            if (e.IsMultipart)
            {
                for (int i = e.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push(e.Children[i]);
                }

                continue;
            }
            if (e.DispositionType == "attachment" || e.Message is not null)
            {
                continue;
            }

            if (e.TransferEncoding is TransferEncoding.Unknown or TransferEncoding.UUEncode)
            {
                continue;
            }

            if (e.End < e.BodyStart || e.HeadersUnterminated)
            {
                continue; // text added there would join the headers
            }

            if (e.MimeType == "text/plain" && plain is null)
            {
                plain = e;
            }
            else if (e.MimeType == "text/html" && html is null)
            {
                html = e;
            }
        }
        var result = new List<MimeEntity>(2);
        if (plain is not null)
        {
            result.Add(plain);
        }

        if (html is not null)
        {
            result.Add(html);
        }

        return result;
    }

    private static async Task<List<Edit>> ForBodyAsync(MimeStructure structure, MimeEntity body, IReadOnlyList<DetachedAttachment> attachments, DetachNotice notice, bool allowReencoding, CancellationToken cancellationToken)
    {
        bool html = body.MimeType == "text/html";
        bool identity = IsIdentity(body.TransferEncoding);
        bool sevenBit = body.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit;
        var charset = Charsets.Find(body.ContentType.Parameters["charset"]) ?? Encoding.ASCII;
        if (!IsAsciiCompatible(charset))
        {
            return []; // UTF-16 and friends: bytes cannot be spliced in
        }

        TextScan scan;
        var stream = identity ? structure.OpenRawBody(body) : structure.OpenBody(body);
        await using (stream.ConfigureAwait(false))
        {
            scan = await TextScan.RunAsync(stream, html, cancellationToken).ConfigureAwait(false);
        }
        string eol = scan.LineEnding ?? body.LineEnding;
        long insertAt;
        string text;
        if (html)
        {
            insertAt = scan.LastBodyClose >= 0 ? scan.LastBodyClose : scan.LastHtmlClose >= 0 ? scan.LastHtmlClose : scan.Length;
            text = eol + notice.Html(attachments, eol) + eol;
        }
        else
        {
            insertAt = scan.Length;
            bool endsWithLineFeed = scan.LastByte == '\n';
            // An empty body sits right against the next delimiter line: end the notice with a line break then.
            bool glued = await DelimiterFollowsDirectlyAsync(structure, body, cancellationToken).ConfigureAwait(false);
            text = (scan.Length == 0 || endsWithLineFeed ? "" : eol) + eol
                + string.Join(eol, notice.PlainLines(attachments)) + (endsWithLineFeed || glued ? eol : "");
        }

        var edits = new List<Edit>();
        var writtenIn = body.TransferEncoding;
        byte[] bytes;
        if (IsAscii(text))
        {
            bytes = Encoding.ASCII.GetBytes(text);
        }
        else if (!sevenBit && NoticeFallback.CanEncode(charset, text))
        {
            bytes = charset.GetBytes(text);
        }
        else if (allowReencoding && scan.IsAscii && (charset.IsSingleByte || charset.CodePage == Encoding.UTF8.CodePage))
        {
            // The body's text is ASCII, which reads the same as UTF-8: it becomes UTF-8 (a 7bit body also becomes
            // quoted-printable, so the output stays 7-bit), and the notice shows as it is.
            edits.AddRange(Utf8LabelEdits(body, sevenBit));
            bytes = Encoding.UTF8.GetBytes(text);
            if (sevenBit)
            {
                writtenIn = TransferEncoding.QuotedPrintable;
            }
        }
        else
        {
            bytes = NoticeFallback.Encode(text, sevenBit ? Encoding.ASCII : charset);
        }

        if (IsIdentity(writtenIn))
        {
            edits.Add(Edit.Insert(body.BodyStart + insertAt, bytes));
            return edits;
        }

        bool rawEndsWithLineFeed = await RawEndsWithLineFeedAsync(structure, body, cancellationToken).ConfigureAwait(false)
            || await DelimiterFollowsDirectlyAsync(structure, body, cancellationToken).ConfigureAwait(false);
        edits.Add(new Edit(body.BodyStart, body.End, async (output, c) =>
        {
            var encoder = BodyEncoder.Create(writtenIn, output, body.LineEnding);
            var decoded = identity ? structure.OpenRawBody(body) : structure.OpenBody(body);
            await using (decoded.ConfigureAwait(false))
            {
                await CopyDecodedAsync(decoded, encoder, insertAt, c).ConfigureAwait(false);
                await encoder.WriteAsync(bytes, c).ConfigureAwait(false);
                await CopyDecodedAsync(decoded, encoder, long.MaxValue, c).ConfigureAwait(false);
            }
            await encoder.CompleteAsync(rawEndsWithLineFeed, c).ConfigureAwait(false);
        }));
        return edits;
    }

    private static bool IsIdentity(TransferEncoding encoding) =>
        encoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary;

    private static bool IsAscii(string text)
    {
        foreach (char c in text)
        {
            if (c > 0x7F)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The header edits that declare a text body UTF-8 (and quoted-printable when <paramref name="toQuotedPrintable"/>); nothing else in its header changes.</summary>
    private static List<Edit> Utf8LabelEdits(MimeEntity body, bool toQuotedPrintable)
    {
        string eol = body.LineEnding;
        var edits = new List<Edit>();
        long headerEnd = body.HeaderStart;
        foreach (var field in body.Headers)
        {
            headerEnd = Math.Max(headerEnd, field.Offset + field.Raw.Length);
        }

        string inserted = "";
        if (body.FindHeader("Content-Type") is { } contentType)
        {
            edits.Add(Edit.Replace(contentType.Offset, contentType.Offset + contentType.Raw.Length, WithUtf8Charset(contentType.Raw.Span, body.MimeType)));
        }
        else
        {
            inserted += "Content-Type: text/plain; charset=utf-8" + eol;
        }
        if (toQuotedPrintable)
        {
            if (body.FindHeader("Content-Transfer-Encoding") is { } cte)
            {
                edits.Add(Edit.Replace(cte.Offset, cte.Offset + cte.Raw.Length, Encoding.ASCII.GetBytes("Content-Transfer-Encoding: quoted-printable" + eol)));
            }
            else
            {
                inserted += "Content-Transfer-Encoding: quoted-printable" + eol;
            }
        }
        if (inserted.Length > 0)
        {
            edits.Add(Edit.Insert(headerEnd, Encoding.ASCII.GetBytes(inserted)));
        }

        return edits;
    }

    /// <summary>The Content-Type field with its charset parameter set to utf-8 (added when missing), otherwise as it was.</summary>
    private static byte[] WithUtf8Charset(ReadOnlySpan<byte> raw, string mimeType)
    {
        string text = Encoding.Latin1.GetString(raw);
        var match = System.Text.RegularExpressions.Regex.Match(text, "(?i)(?<=[;:\\s]charset\\s*=\\s*)(\"[^\"]*\"|[^;\\s]*)");
        if (match.Success)
        {
            text = text[..match.Index] + "utf-8" + text[(match.Index + match.Length)..];
        }
        else
        {
            int end = text.TrimEnd('\r', '\n').Length;
            text = text[..end] + "; charset=utf-8" + text[end..];
        }
        // A field that does not parse (a broken type, an open quote) would not carry the charset: write a clean one.
        // Found by fuzzing: "Content-Type: x="y; charset=utf-8" left a quoted-printable UTF-8 body without its charset.
        var (parsedType, parameters) = HeaderDecoding.ContentType(Encoding.Latin1.GetBytes(text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        if (parsedType != mimeType || !string.Equals(parameters["charset"], "utf-8", StringComparison.OrdinalIgnoreCase))
        {
            text = $"Content-Type: {mimeType}; charset=utf-8{text[text.TrimEnd('\r', '\n').Length..]}";
        }
        return Encoding.Latin1.GetBytes(text);
    }

    private static async Task CopyDecodedAsync(Stream decoded, BodyEncoder encoder, long count, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (count > 0)
            {
                int n = await decoded.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                await encoder.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                count -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<bool> RawEndsWithLineFeedAsync(MimeStructure structure, MimeEntity body, CancellationToken cancellationToken)
    {
        if (body.BodyLength == 0)
        {
            return false;
        }

        var last = new byte[1];
        var range = structure.OpenRange(body.End - 1, body.End);
        await using (range.ConfigureAwait(false))
        {
            int n = await range.ReadAsync(last, cancellationToken).ConfigureAwait(false);
            return n == 1 && last[0] == '\n';
        }
    }

    /// <summary>True when the body is followed by a delimiter line with no line ending in between (an empty body).</summary>
    private static async Task<bool> DelimiterFollowsDirectlyAsync(MimeStructure structure, MimeEntity body, CancellationToken cancellationToken)
    {
        var next = new byte[1];
        var range = structure.OpenRange(body.End, body.End + 1);
        await using (range.ConfigureAwait(false))
        {
            int n = await range.ReadAsync(next, cancellationToken).ConfigureAwait(false);
            return n == 1 && next[0] is not (byte)'\r' and not (byte)'\n';
        }
    }

    private static bool IsAsciiCompatible(Encoding encoding)
    {
        const string probe = "Az09 <>/-:.\r\n";
        var bytes = encoding.GetBytes(probe);
        return bytes.AsSpan().SequenceEqual(Encoding.ASCII.GetBytes(probe));
    }
}
