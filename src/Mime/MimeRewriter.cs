using System.Buffers;
using System.Globalization;
using System.Text;

namespace Detach.Mime;

/// <summary>
/// Takes attachments out of a spooled message: parses it once, asks <see cref="AttachmentPolicy"/> about each
/// part, hands each detached part's decoded content to the sink, then writes the message again, copying every
/// byte it does not replace. All sink calls complete before the first output byte is written, so a storage
/// failure leaves the output untouched.
/// </summary>
public sealed class MimeRewriter
{
    private readonly DetachPolicyOptions _policy;
    private readonly IAttachmentSink _sink;
    private readonly MimeRewriterOptions _options;

    public MimeRewriter(DetachPolicyOptions policy, IAttachmentSink sink, MimeRewriterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(sink);
        options ??= new MimeRewriterOptions();
        var errors = policy.Validate().Concat(options.Validate()).ToList();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(policy));
        _policy = policy;
        _sink = sink;
        _options = options;
    }

    /// <summary>
    /// Rewrites <paramref name="message"/> (seekable, read from its current position) into <paramref name="output"/>.
    /// </summary>
    public async Task<MimeRewriteResult> RewriteAsync(Stream message, Stream output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(output);
        var structure = await MimeStructure.ParseAsync(message, _options.Parser, cancellationToken).ConfigureAwait(false);
        var plan = await PlanAsync(structure, cancellationToken).ConfigureAwait(false);
        long total = message.Length - structure.Origin;
        var root = structure.Root;

        if (plan.Targets.Count == 0)
        {
            if (plan.SkippedReason is not null && plan.AnnounceSkip)
            {
                await CopyRangeAsync(structure, 0, root.HeaderStart, output, cancellationToken).ConfigureAwait(false);
                await WriteAsciiAsync(output, $"{_options.TraceHeaderName}: skipped ({plan.SkippedReason}){root.LineEnding}", cancellationToken).ConfigureAwait(false);
                await CopyRangeAsync(structure, root.HeaderStart, total, output, cancellationToken).ConfigureAwait(false);
                return new MimeRewriteResult([], plan.SkippedReason);
            }
            await CopyRangeAsync(structure, 0, total, output, cancellationToken).ConfigureAwait(false);
            return new MimeRewriteResult([], plan.SkippedReason) { Unchanged = true };
        }

        var stored = new List<StoredPart>(plan.Targets.Count);
        foreach (var target in plan.Targets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var descriptor = Describe(target);
            var content = TransferDecoder.Open(structure.Spool, structure.Origin + target.ContentStart, target.ContentLength, target.Encoding);
            await using (content.ConfigureAwait(false))
            {
                var attachment = await _sink.StoreAsync(descriptor, content, cancellationToken).ConfigureAwait(false);
                attachment = attachment with { FileName = FileNames.Sanitize(attachment.FileName, descriptor.ContentType) };
                stored.Add(new StoredPart(target, descriptor, attachment));
            }
        }
        var attachments = stored.ConvertAll(s => s.Attachment);

        var edits = new List<Edit>();
        string summary = DetachNotice.Summary(attachments);
        edits.Add(new Edit(root.HeaderStart, root.HeaderStart,
            (o, c) => WriteAsciiAsync(o, $"{_options.TraceHeaderName}: {summary}{root.LineEnding}", c)));
        if (stored.Exists(s => s.IsWholePart && s.Entity == root))
        {
            var part = stored.Find(s => s.IsWholePart && s.Entity == root)!;
            edits.Add(new Edit(root.HeaderStart, root.End, (o, c) => WriteBytesAsync(o, RootReplacement(root, part, attachments), c)));
        }
        else
        {
            // An mbox-style Content-Length would no longer be true.
            foreach (var field in root.Headers)
            {
                if (field.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    long start = field.Offset;
                    edits.Add(new Edit(start, start + field.Raw.Length, (_, _) => Task.CompletedTask));
                }
            }
            foreach (var part in stored)
            {
                var p = part;
                byte[] replacement = p.IsWholePart ? ExternalBodyPart(p, p.Entity.LineEnding) : UUBlockReplacement(p);
                edits.Add(new Edit(p.Target.ReplaceStart, p.Target.ReplaceEnd, (o, c) => WriteBytesAsync(o, replacement, c)));
            }
            var detachedSet = stored.Where(s => s.IsWholePart).Select(s => s.Entity).ToHashSet();
            var bodiesWithUUBlocks = stored.Where(s => !s.IsWholePart).Select(s => s.Entity).ToHashSet();
            int noticed = 0;
            foreach (var body in FindTextBodies(root, detachedSet))
            {
                // A body that lost uuencoded blocks is edited in place, so it cannot also be re-encoded whole.
                var bodyEdits = await PlanNoticeEditsAsync(structure, body, attachments, allowReencoding: !bodiesWithUUBlocks.Contains(body), cancellationToken).ConfigureAwait(false);
                if (bodyEdits.Count == 0) continue;
                edits.AddRange(bodyEdits);
                noticed++;
            }
            if (noticed == 0 && root.IsMultipart && root.Children.Count > 0)
            {
                // No text body to extend: the notice becomes the first part of the top multipart.
                var first = root.Children[0];
                string eol = root.LineEnding;
                byte[] bytes = [.. NoticePart(attachments, eol), .. Encoding.ASCII.GetBytes(eol + "--"), .. Encoding.UTF8.GetBytes(root.Boundary!.TrimEnd(' ', '\t')), .. Encoding.ASCII.GetBytes(eol)];
                edits.Add(new Edit(first.HeaderStart, first.HeaderStart, (o, c) => WriteBytesAsync(o, bytes, c)));
            }
        }

        edits.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        for (int i = 1; i < edits.Count; i++)
        {
            // A bug guard, checked before the first byte is written.
            if (edits[i].Start < edits[i - 1].End) throw new InvalidOperationException("Internal error: overlapping rewrite regions.");
        }
        long pos = 0;
        foreach (var edit in edits)
        {
            await CopyRangeAsync(structure, pos, edit.Start, output, cancellationToken).ConfigureAwait(false);
            await edit.WriteAsync(output, cancellationToken).ConfigureAwait(false);
            pos = edit.End;
        }
        await CopyRangeAsync(structure, pos, total, output, cancellationToken).ConfigureAwait(false);
        return new MimeRewriteResult(attachments, null);
    }

    private sealed record StoredPart(DetachTarget Target, AttachmentDescriptor Descriptor, DetachedAttachment Attachment)
    {
        public MimeEntity Entity => Target.Entity;

        public bool IsWholePart => Target.Block is null;
    }

    private sealed record Edit(long Start, long End, Func<Stream, CancellationToken, Task> WriteAsync);

    private sealed record Plan(List<DetachTarget> Targets, string? SkippedReason, bool AnnounceSkip);

    /// <summary>A part to detach, or a uuencoded block inside a text body.</summary>
    private sealed record DetachTarget(MimeEntity Entity, UUBlock? Block, string PartPath)
    {
        public long ReplaceStart => Block is null ? Entity.HeaderStart : Entity.BodyStart + Block.Start;

        public long ReplaceEnd => Block is null ? Entity.End : Entity.BodyStart + Block.End;

        public long ContentStart => Block is null ? Entity.BodyStart : ReplaceStart;

        public long ContentLength => Block is null ? Entity.BodyLength : Block.End - Block.Start;

        public TransferEncoding Encoding => Block is null ? Entity.TransferEncoding : TransferEncoding.UUEncode;
    }

    // ---------------------------------------------------------------- planning

    private async Task<Plan> PlanAsync(MimeStructure structure, CancellationToken cancellationToken)
    {
        var root = structure.Root;
        var cids = await CollectCidReferencesAsync(structure, cancellationToken).ConfigureAwait(false);
        string? protectedReason = _policy.SkipSignedMessages && !root.IsOpaque ? AttachmentPolicy.ProtectedReason(root.MimeType) : null;
        if (protectedReason is not null)
        {
            // Say so only when it matters: something would have been detached, or we cannot see inside.
            bool announce = protectedReason != "signed message" || Walk(root, cids, ignoreProtection: true).Count > 0;
            return new Plan([], protectedReason, announce);
        }
        var textBodies = new List<MimeEntity>();
        var targets = Walk(root, cids, ignoreProtection: false, textBodies).ConvertAll(e => new DetachTarget(e, null, e.Path.Length == 0 ? "1" : e.Path));
        foreach (var body in textBodies)
        {
            List<UUBlock> blocks;
            var raw = structure.OpenRawBody(body);
            await using (raw.ConfigureAwait(false))
            {
                blocks = await UUBlockScanner.FindAsync(raw, cancellationToken).ConfigureAwait(false);
            }
            for (int i = 0; i < blocks.Count; i++)
            {
                var block = blocks[i];
                string path = (body.Path.Length == 0 ? "1" : body.Path) + ":uu" + (i + 1).ToString(CultureInfo.InvariantCulture);
                var context = new PartContext(UUBlockScanner.MediaTypeFor(block.FileName), "attachment", block.FileName, null, block.End - block.Start,
                    TransferEncoding.UUEncode, false, body.MimeType, false, false, false, false);
                if (AttachmentPolicy.Classify(context, _policy).Action == PartAction.Detach) targets.Add(new DetachTarget(body, block, path));
            }
        }
        targets.Sort((a, b) => a.ReplaceStart.CompareTo(b.ReplaceStart));
        if (targets.Count > _policy.MaxAttachmentsPerMessage) targets.RemoveRange(_policy.MaxAttachmentsPerMessage, targets.Count - _policy.MaxAttachmentsPerMessage);
        return new Plan(targets, null, false);
    }

    /// <summary>Decisions for every part, in document order; returns the parts to detach.</summary>
    private List<MimeEntity> Walk(MimeEntity root, Dictionary<MimeEntity, HashSet<string>> cids, bool ignoreProtection, List<MimeEntity>? textBodies = null)
    {
        var targets = new List<MimeEntity>();
        var stack = new Stack<(MimeEntity Entity, string? ParentType, bool Protected, bool IsRoot)>();
        stack.Push((root, null, false, true));
        while (stack.Count > 0)
        {
            var (e, parentType, isProtected, isRoot) = stack.Pop();
            bool protect = !ignoreProtection && _policy.SkipSignedMessages && isProtected;
            var context = ContextFor(e, parentType, protect, isRoot, cids);
            var decision = AttachmentPolicy.Classify(context, _policy);
            switch (decision.Action)
            {
                case PartAction.Detach:
                    // A part whose headers ran into the next delimiter has no body to detach.
                    if (e.End >= e.BodyStart && e.BodyLength > 0 && targets.Count < _policy.MaxAttachmentsPerMessage) targets.Add(e);
                    break;
                case PartAction.Keep when textBodies is not null && !protect && e.MimeType == "text/plain" && e.BodyLength > 0
                    && e.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary:
                    textBodies.Add(e); // may hold uuencoded files
                    break;
                case PartAction.Descend:
                    bool childProtected = isProtected || AttachmentPolicy.ProtectedReason(e.MimeType) is not null;
                    if (e.Message is not null) stack.Push((e.Message, e.MimeType, childProtected, true));
                    for (int i = e.Children.Count - 1; i >= 0; i--) stack.Push((e.Children[i], e.MimeType, childProtected, false));
                    break;
            }
        }
        return targets;
    }

    /// <summary>The policy's view of one part.</summary>
    public static PartContext ContextFor(MimeEntity entity, string? parentType, bool insideProtected, bool isRoot, IReadOnlyDictionary<MimeEntity, HashSet<string>>? cids)
    {
        ArgumentNullException.ThrowIfNull(entity);
        bool referenced = false;
        string? id = NormalizeContentId(entity.ContentId);
        if (id is not null && cids is not null && NearestRelated(entity) is { } related && cids.TryGetValue(related, out var set))
        {
            referenced = set.Contains(id);
        }
        return new PartContext(entity.MimeType, entity.DispositionType, entity.RawFileName, entity.ContentId, entity.BodyLength,
            entity.TransferEncoding, isRoot, parentType, insideProtected, referenced, entity.IsOpaque, entity.Message is not null);
    }

    private static MimeEntity? NearestRelated(MimeEntity entity)
    {
        var current = entity;
        while (current.Parent is { } parent)
        {
            if (parent.Message == current) return null; // do not leave the enclosing message
            if (parent.MimeType == "multipart/related") return parent;
            current = parent;
        }
        return null;
    }

    internal static string? NormalizeContentId(string? contentId)
    {
        if (string.IsNullOrWhiteSpace(contentId)) return null;
        string id = contentId.Trim();
        if (id.StartsWith('<')) id = id[1..];
        int close = id.IndexOf('>', StringComparison.Ordinal);
        if (close >= 0) id = id[..close];
        id = id.Trim();
        return id.Length == 0 ? null : id;
    }

    /// <summary>For each multipart/related, the Content-IDs its HTML bodies refer to with cid: URLs.</summary>
    private async Task<Dictionary<MimeEntity, HashSet<string>>> CollectCidReferencesAsync(MimeStructure structure, CancellationToken cancellationToken)
    {
        var result = new Dictionary<MimeEntity, HashSet<string>>();
        if (!_policy.KeepCidReferencedImages) return result;
        foreach (var e in structure.Root.DescendantsAndSelf())
        {
            if (e.MimeType != "text/html" || e.IsOpaque || !TransferDecoder.CanDecode(e.TransferEncoding)) continue;
            if (NearestRelated(e) is not { } related) continue;
            if (!result.TryGetValue(related, out var set)) result[related] = set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var body = structure.OpenBody(e);
            await using (body.ConfigureAwait(false))
            {
                await CidScanner.ScanAsync(body, set, _options.MaxHtmlScanBytes, cancellationToken).ConfigureAwait(false);
            }
        }
        return result;
    }

    private static AttachmentDescriptor Describe(DetachTarget target)
    {
        if (target.Block is { } block)
        {
            string type = UUBlockScanner.MediaTypeFor(block.FileName);
            return new AttachmentDescriptor(FileNames.Sanitize(block.FileName, type), type, null, target.ContentLength, target.PartPath);
        }
        var entity = target.Entity;
        string mimeType = SafeMimeType(entity.MimeType);
        bool isMessage = mimeType is "message/rfc822" or "message/global" or "message/news";
        string? name = entity.RawFileName;
        if (name is null && isMessage && entity.Message?.FindHeader("Subject") is { } subject)
        {
            name = EncodedWords.Decode(subject.Value);
        }
        name = FileNames.Sanitize(name, mimeType);
        if (isMessage && !name.EndsWith(".eml", StringComparison.OrdinalIgnoreCase))
        {
            name = FileNames.Sanitize(name.Length > FileNames.MaxLength - 4 ? name[..(FileNames.MaxLength - 4)] + ".eml" : name + ".eml", mimeType);
        }
        return new AttachmentDescriptor(name, mimeType, NormalizeContentId(entity.ContentId), entity.BodyLength, target.PartPath);
    }

    private static string SafeMimeType(string mimeType)
    {
        int slash = mimeType.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == mimeType.Length - 1 || mimeType.Length > 127) return "application/octet-stream";
        foreach (char c in mimeType)
        {
            if (c is <= ' ' or >= (char)0x7F or '"' or '(' or ')' or ',' or ':' or ';' or '<' or '>' or '@' or '[' or ']' or '\\' or '?' or '=')
                return "application/octet-stream";
        }
        return mimeType;
    }

    // ---------------------------------------------------------------- notices

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
            if (detached.Contains(e) || e.IsOpaque || AttachmentPolicy.ProtectedReason(e.MimeType) is not null) continue;
            if (e.IsMultipart)
            {
                for (int i = e.Children.Count - 1; i >= 0; i--) stack.Push(e.Children[i]);
                continue;
            }
            if (e.DispositionType == "attachment" || e.Message is not null) continue;
            if (e.TransferEncoding is TransferEncoding.Unknown or TransferEncoding.UUEncode) continue;
            if (e.End < e.BodyStart || e.HeadersUnterminated) continue; // text added there would join the headers
            if (e.MimeType == "text/plain" && plain is null) plain = e;
            else if (e.MimeType == "text/html" && html is null) html = e;
        }
        var result = new List<MimeEntity>(2);
        if (plain is not null) result.Add(plain);
        if (html is not null) result.Add(html);
        return result;
    }

    private async Task<List<Edit>> PlanNoticeEditsAsync(MimeStructure structure, MimeEntity body, List<DetachedAttachment> attachments, bool allowReencoding, CancellationToken cancellationToken)
    {
        bool html = body.MimeType == "text/html";
        bool identity = body.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary;
        bool sevenBit = body.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit;
        var charset = Charsets.Find(body.ContentType.Parameters["charset"]) ?? Encoding.ASCII;
        if (!IsAsciiCompatible(charset)) return []; // UTF-16 and friends: bytes cannot be spliced in
        var encoding = (Encoding)(sevenBit ? Encoding.ASCII : charset).Clone();
        encoding.EncoderFallback = new EncoderReplacementFallback("?");

        TextScan scan;
        var stream = identity ? structure.OpenRawBody(body) : structure.OpenBody(body);
        await using (stream.ConfigureAwait(false))
        {
            scan = await TextScan.RunAsync(stream, html, cancellationToken).ConfigureAwait(false);
        }
        string eol = scan.LineEnding ?? body.LineEnding;
        long insertAt;
        byte[] notice;
        if (html)
        {
            insertAt = scan.LastBodyClose >= 0 ? scan.LastBodyClose : scan.LastHtmlClose >= 0 ? scan.LastHtmlClose : scan.Length;
            notice = Encoding.ASCII.GetBytes(eol + DetachNotice.Html(attachments, _options.ServiceName, eol) + eol);
        }
        else
        {
            insertAt = scan.Length;
            bool endsWithLineFeed = scan.LastByte == '\n';
            // An empty body sits right against the next delimiter line: end the notice with a line break then.
            bool glued = await DelimiterFollowsDirectlyAsync(structure, body, cancellationToken).ConfigureAwait(false);
            string text = (scan.Length == 0 || endsWithLineFeed ? "" : eol) + eol
                + string.Join(eol, DetachNotice.PlainLines(attachments, _options.ServiceName)) + (endsWithLineFeed || glued ? eol : "");
            if (sevenBit && allowReencoding && !IsAscii(text))
            {
                // A 7bit body cannot carry the non-ASCII file names: it becomes UTF-8 quoted-printable
                // (its ASCII text is valid UTF-8), so the names show as they are and the output stays 7-bit.
                return await UpgradeToUtf8Async(structure, body, Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
            }
            notice = encoding.GetBytes(text);
        }

        if (identity)
        {
            long at = body.BodyStart + insertAt;
            return [new Edit(at, at, (o, c) => WriteBytesAsync(o, notice, c))];
        }

        bool rawEndsWithLineFeed = await RawEndsWithLineFeedAsync(structure, body, cancellationToken).ConfigureAwait(false)
            || await DelimiterFollowsDirectlyAsync(structure, body, cancellationToken).ConfigureAwait(false);
        return [new Edit(body.BodyStart, body.End, async (output, c) =>
        {
            var encoder = BodyEncoder.Create(body.TransferEncoding, output, body.LineEnding);
            var decoded = structure.OpenBody(body);
            await using (decoded.ConfigureAwait(false))
            {
                await CopyDecodedAsync(decoded, encoder, insertAt, c).ConfigureAwait(false);
                await encoder.WriteAsync(notice, c).ConfigureAwait(false);
                await CopyDecodedAsync(decoded, encoder, long.MaxValue, c).ConfigureAwait(false);
            }
            await encoder.CompleteAsync(rawEndsWithLineFeed, c).ConfigureAwait(false);
        })];
    }

    private static bool IsAscii(string text)
    {
        foreach (char c in text)
        {
            if (c > 0x7F) return false;
        }
        return true;
    }

    /// <summary>Edits that make a 7bit text/plain body UTF-8 quoted-printable with the notice appended.</summary>
    private static async Task<List<Edit>> UpgradeToUtf8Async(MimeStructure structure, MimeEntity body, byte[] notice, CancellationToken cancellationToken)
    {
        string eol = body.LineEnding;
        var edits = new List<Edit>();
        long headerEnd = body.HeaderStart;
        foreach (var field in body.Headers) headerEnd = Math.Max(headerEnd, field.Offset + field.Raw.Length);
        string inserted = "";
        if (body.FindHeader("Content-Type") is { } contentType)
        {
            byte[] replaced = WithUtf8Charset(contentType.Raw.Span, body.MimeType);
            edits.Add(new Edit(contentType.Offset, contentType.Offset + contentType.Raw.Length, (o, c) => WriteBytesAsync(o, replaced, c)));
        }
        else
        {
            inserted += "Content-Type: text/plain; charset=utf-8" + eol;
        }
        if (body.FindHeader("Content-Transfer-Encoding") is { } cte)
        {
            byte[] replaced = Encoding.ASCII.GetBytes("Content-Transfer-Encoding: quoted-printable" + eol);
            edits.Add(new Edit(cte.Offset, cte.Offset + cte.Raw.Length, (o, c) => WriteBytesAsync(o, replaced, c)));
        }
        else
        {
            inserted += "Content-Transfer-Encoding: quoted-printable" + eol;
        }
        if (inserted.Length > 0)
        {
            byte[] fields = Encoding.ASCII.GetBytes(inserted);
            edits.Add(new Edit(headerEnd, headerEnd, (o, c) => WriteBytesAsync(o, fields, c)));
        }
        bool finalLineEnding = await RawEndsWithLineFeedAsync(structure, body, cancellationToken).ConfigureAwait(false)
            || await DelimiterFollowsDirectlyAsync(structure, body, cancellationToken).ConfigureAwait(false);
        edits.Add(new Edit(body.BodyStart, body.End, async (output, c) =>
        {
            var encoder = new QuotedPrintableBodyEncoder(output, eol);
            var raw = structure.OpenRawBody(body);
            await using (raw.ConfigureAwait(false))
            {
                await CopyDecodedAsync(raw, encoder, long.MaxValue, c).ConfigureAwait(false);
            }
            await encoder.WriteAsync(notice, c).ConfigureAwait(false);
            await encoder.CompleteAsync(finalLineEnding, c).ConfigureAwait(false);
        }));
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
        var parsed = StructuredHeaderValue.Parse(text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        if (parsed.Value != mimeType || !string.Equals(parsed.Parameters["charset"], "utf-8", StringComparison.OrdinalIgnoreCase))
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
                if (n == 0) break;
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
        if (body.BodyLength == 0) return false;
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

    /// <summary>A text/plain part holding the notice, headers included, without the line ending that precedes a delimiter.</summary>
    private byte[] NoticePart(List<DetachedAttachment> attachments, string eol)
    {
        string text = string.Join(eol, DetachNotice.PlainLines(attachments, _options.ServiceName).Skip(1)) + eol;
        var head = Encoding.ASCII.GetBytes(
            "Content-Type: text/plain; charset=utf-8" + eol +
            "Content-Transfer-Encoding: quoted-printable" + eol +
            "Content-Disposition: inline" + eol + eol);
        return [.. head, .. QuotedPrintableBodyEncoder.EncodeAll(Encoding.UTF8.GetBytes(text), eol)];
    }

    // ---------------------------------------------------------------- replacement parts

    /// <summary>The line that takes a uuencoded block's place in its text body: name, size and link.</summary>
    private static byte[] UUBlockReplacement(StoredPart part)
    {
        var a = part.Attachment;
        var body = part.Entity;
        string eol = body.LineEnding;
        string text = $"[{a.FileName} ({DetachNotice.FormatSize(a.Size)}) was removed: {a.Link}]" + (part.Target.Block!.EndsWithLineBreak ? eol : "");
        bool sevenBit = body.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit;
        var encoding = (Encoding)(sevenBit ? Encoding.ASCII : Charsets.Find(body.ContentType.Parameters["charset"]) ?? Encoding.ASCII).Clone();
        encoding.EncoderFallback = new EncoderReplacementFallback("?");
        return encoding.GetBytes(text);
    }

    /// <summary>RFC 4483 / RFC 2017 message/external-body part with the original type, name and size in its phantom header.</summary>
    private static byte[] ExternalBodyPart(StoredPart part, string eol)
    {
        var a = part.Attachment;
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
        foreach (var word in EncodedWords.EncodeIfNeeded($"{a.FileName} ({DetachNotice.FormatSize(a.Size)})").Split(' '))
        {
            sb.Append(sb.Length - LastLineStart(sb) + word.Length > 76 ? eol + " " : " ").Append(word);
        }
        sb.Append(eol).Append(eol);
        sb.Append("Content-Type: ").Append(SafeMimeType(part.Descriptor.ContentType));
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

    private static int LastLineStart(StringBuilder sb)
    {
        for (int i = sb.Length - 1; i >= 0; i--)
        {
            if (sb[i] == '\n') return i + 1;
        }
        return 0;
    }

    /// <summary>Links are ASCII; anything else (or a quote) is percent-encoded so the parameter stays a quoted string.</summary>
    private static string SafeUrl(string link)
    {
        var sb = new StringBuilder(link.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(link))
        {
            if (b is > 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\') sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
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
    private byte[] RootReplacement(MimeEntity root, StoredPart part, List<DetachedAttachment> attachments)
    {
        string eol = root.LineEnding;
        var bytes = new List<byte>(2048);
        foreach (var field in root.Headers)
        {
            string name = field.Name;
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || name.Equals("MIME-Version", StringComparison.OrdinalIgnoreCase)) continue;
            bytes.AddRange(field.Raw.Span);
            if (field.Raw.Span[^1] != '\n') bytes.AddRange(Encoding.ASCII.GetBytes(eol));
        }
        string boundary = "=_detach_" + Guid.NewGuid().ToString("N");
        bytes.AddRange(Encoding.ASCII.GetBytes(
            "MIME-Version: 1.0" + eol +
            "Content-Type: multipart/mixed;" + eol + "\tboundary=\"" + boundary + "\"" + eol + eol +
            "--" + boundary + eol));
        bytes.AddRange(NoticePart(attachments, eol));
        bytes.AddRange(Encoding.ASCII.GetBytes(eol + "--" + boundary + eol));
        bytes.AddRange(ExternalBodyPart(part, eol));
        bytes.AddRange(Encoding.ASCII.GetBytes(eol + "--" + boundary + "--" + eol));
        return [.. bytes];
    }

    // ---------------------------------------------------------------- output

    private static Task WriteAsciiAsync(Stream output, string text, CancellationToken cancellationToken) =>
        output.WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken).AsTask();

    private static Task WriteBytesAsync(Stream output, byte[] bytes, CancellationToken cancellationToken) =>
        output.WriteAsync(bytes, cancellationToken).AsTask();

    private static async Task CopyRangeAsync(MimeStructure structure, long start, long end, Stream output, CancellationToken cancellationToken)
    {
        if (end <= start) return;
        var range = structure.OpenRange(start, end);
        await using (range.ConfigureAwait(false))
        {
            await range.CopyToAsync(output, 64 * 1024, cancellationToken).ConfigureAwait(false);
        }
    }
}
