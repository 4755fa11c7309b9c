using System.Globalization;

namespace Detach.Mime;

/// <summary>The parts to detach, or why none: what the planner decided for one message.</summary>
/// <param name="AnnounceSkip">Say in the trace header that the message was skipped (something would have been detached, or we cannot see inside).</param>
internal sealed record DetachPlan(List<DetachTarget> Targets, string? SkippedReason, bool AnnounceSkip);

/// <summary>A part to detach, or a uuencoded block inside a text body.</summary>
internal sealed record DetachTarget(MimeEntity Entity, UUBlock? Block, string PartPath)
{
    public long ReplaceStart => Block is null ? Entity.HeaderStart : Entity.BodyStart + Block.Start;

    public long ReplaceEnd => Block is null ? Entity.End : Entity.BodyStart + Block.End;

    public long ContentStart => Block is null ? Entity.BodyStart : ReplaceStart;

    public long ContentLength => Block is null ? Entity.BodyLength : Block.End - Block.Start;

    public TransferEncoding Encoding => Block is null ? Entity.TransferEncoding : TransferEncoding.UUEncode;

    public bool IsWholePart => Block is null;
}

/// <summary>
/// Decides which parts of a parsed message leave it: asks <see cref="AttachmentPolicy"/> about every part (with the
/// cid: references of the HTML bodies), looks for uuencoded files in plain-text bodies, and describes each target
/// for the sink.
/// </summary>
internal sealed class DetachPlanner(DetachPolicyOptions policy, MimeRewriterOptions options)
{
    public async Task<DetachPlan> PlanAsync(MimeStructure structure, CancellationToken cancellationToken)
    {
        var root = structure.Root;
        var cids = await CollectCidReferencesAsync(structure, cancellationToken).ConfigureAwait(false);
        string? protectedReason = policy.SkipSignedMessages && !root.IsOpaque ? AttachmentPolicy.ProtectedReason(root.MimeType) : null;
        if (protectedReason is not null)
        {
            // Say so only when it matters: something would have been detached, or we cannot see inside.
            bool announce = protectedReason != "signed message" || Walk(root, cids, ignoreProtection: true).Count > 0;
            return new DetachPlan([], protectedReason, announce);
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
                if (AttachmentPolicy.Classify(context, policy).Action == PartAction.Detach)
                {
                    targets.Add(new DetachTarget(body, block, path));
                }
            }
        }
        targets.Sort((a, b) => a.ReplaceStart.CompareTo(b.ReplaceStart));
        if (targets.Count > policy.MaxAttachmentsPerMessage)
        {
            targets.RemoveRange(policy.MaxAttachmentsPerMessage, targets.Count - policy.MaxAttachmentsPerMessage);
        }

        return new DetachPlan(targets, null, false);
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
            bool protect = !ignoreProtection && policy.SkipSignedMessages && isProtected;
            var context = ContextFor(e, parentType, protect, isRoot, cids);
            var decision = AttachmentPolicy.Classify(context, policy);
            switch (decision.Action)
            {
                case PartAction.Detach:
                    // A part whose headers ran into the next delimiter has no body to detach.
                    if (e.End >= e.BodyStart && e.BodyLength > 0 && targets.Count < policy.MaxAttachmentsPerMessage)
                    {
                        targets.Add(e);
                    }

                    break;
                case PartAction.Keep when textBodies is not null && !protect && e.MimeType == "text/plain" && e.BodyLength > 0
                    && e.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary:
                    textBodies.Add(e); // may hold uuencoded files
                    break;
                case PartAction.Descend:
                    bool childProtected = isProtected || AttachmentPolicy.ProtectedReason(e.MimeType) is not null;
                    if (e.Message is not null)
                    {
                        stack.Push((e.Message, e.MimeType, childProtected, true));
                    }

                    for (int i = e.Children.Count - 1; i >= 0; i--)
                    {
                        stack.Push((e.Children[i], e.MimeType, childProtected, false));
                    }

                    break;
            }
        }
        return targets;
    }

    /// <summary>The policy's view of one part.</summary>
    internal static PartContext ContextFor(MimeEntity entity, string? parentType, bool insideProtected, bool isRoot, IReadOnlyDictionary<MimeEntity, HashSet<string>>? cids)
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
            if (parent.Message == current)
            {
                return null; // do not leave the enclosing message
            }

            if (parent.MimeType == "multipart/related")
            {
                return parent;
            }

            current = parent;
        }
        return null;
    }

    internal static string? NormalizeContentId(string? contentId)
    {
        if (string.IsNullOrWhiteSpace(contentId))
        {
            return null;
        }

        string id = contentId.Trim();
        if (id.StartsWith('<'))
        {
            id = id[1..];
        }

        int close = id.IndexOf('>', StringComparison.Ordinal);
        if (close >= 0)
        {
            id = id[..close];
        }

        id = id.Trim();
        return id.Length == 0 ? null : id;
    }

    /// <summary>For each multipart/related, the Content-IDs its HTML bodies refer to with cid: URLs.</summary>
    private async Task<Dictionary<MimeEntity, HashSet<string>>> CollectCidReferencesAsync(MimeStructure structure, CancellationToken cancellationToken)
    {
        var result = new Dictionary<MimeEntity, HashSet<string>>();
        if (!policy.KeepCidReferencedImages)
        {
            return result;
        }

        foreach (var e in structure.Root.DescendantsAndSelf())
        {
            if (e.MimeType != "text/html" || e.IsOpaque || !TransferDecoder.CanDecode(e.TransferEncoding))
            {
                continue;
            }

            if (NearestRelated(e) is not { } related)
            {
                continue;
            }

            if (!result.TryGetValue(related, out var set))
            {
                result[related] = set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            }

            var body = structure.OpenBody(e);
            await using (body.ConfigureAwait(false))
            {
                await CidScanner.ScanAsync(body, set, options.MaxHtmlScanBytes, cancellationToken).ConfigureAwait(false);
            }
        }
        return result;
    }

    public static AttachmentDescriptor Describe(DetachTarget target, MessageHeaders message)
    {
        if (target.Block is { } block)
        {
            string type = UUBlockScanner.MediaTypeFor(block.FileName);
            return new AttachmentDescriptor(FileNames.Sanitize(block.FileName, type), type, null, target.ContentLength, target.PartPath, message);
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
        return new AttachmentDescriptor(name, mimeType, NormalizeContentId(entity.ContentId), entity.BodyLength, target.PartPath, message);
    }

    internal static string SafeMimeType(string mimeType)
    {
        int slash = mimeType.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == mimeType.Length - 1 || mimeType.Length > 127)
        {
            return "application/octet-stream";
        }

        foreach (char c in mimeType)
        {
            if (c is <= ' ' or >= (char)0x7F or '"' or '(' or ')' or ',' or ':' or ';' or '<' or '>' or '@' or '[' or ']' or '\\' or '?' or '=')
            {
                return "application/octet-stream";
            }
        }
        return mimeType;
    }
}
