using System.Text;

namespace Detach.Mime;

/// <summary>
/// Takes attachments out of a spooled message in two phases. <see cref="PrepareAsync"/> parses the message once,
/// plans which parts leave it (<see cref="DetachPlanner"/>), hands each one's decoded content to the sink and
/// decides every edit; <see cref="PreparedMessage.WriteToAsync"/> then writes the message, copying every byte it
/// does not replace. A storage failure therefore happens before any output exists, and a message with nothing
/// to change need not be copied at all.
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
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(policy));
        }

        _policy = policy;
        _sink = sink;
        _options = options;
    }

    /// <summary>
    /// Parses <paramref name="spool"/> (seekable, from its current position), stores every attachment the policy
    /// selects and decides the edits. Sink exceptions propagate unchanged. The spool must stay open until the
    /// prepared message is written.
    /// </summary>
    /// <exception cref="MimeLimitExceededException">The message is past a parser limit and the policy says not to deliver it; nothing was stored.</exception>
    public Task<PreparedMessage> PrepareAsync(Stream spool, CancellationToken cancellationToken) =>
        PrepareAsync(spool, static _ => NoticeOptions.Default, cancellationToken);

    /// <summary>
    /// As <see cref="PrepareAsync(Stream, CancellationToken)"/>, with the notice said as <paramref name="noticeFor"/>
    /// chooses for this message once its header fields are read (the sender's domain may come from its From).
    /// </summary>
    /// <exception cref="MimeLimitExceededException">The message is past a parser limit and the policy says not to deliver it; nothing was stored.</exception>
    public async Task<PreparedMessage> PrepareAsync(Stream spool, Func<MessageHeaders, NoticeOptions> noticeFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(noticeFor);
        var structure = await MimeStructure.ParseAsync(spool, _options.Parser, cancellationToken).ConfigureAwait(false);
        if (structure.LimitExceeded is { } limit && _policy.WhenLimitExceeded != LimitExceededAction.Deliver)
        {
            throw new MimeLimitExceededException(limit, _policy.WhenLimitExceeded);
        }

        var plan = await new DetachPlanner(_policy, _options).PlanAsync(structure, cancellationToken).ConfigureAwait(false);
        var root = structure.Root;
        var message = new MessageHeaders(root.Headers);
        string? limitNote = structure.LimitExceeded is null ? null : $"parser limit exceeded ({structure.LimitExceeded})";
        if (plan.Targets.Count == 0)
        {
            string? skipNote = plan.SkippedReason is not null && plan.AnnounceSkip ? $"skipped ({plan.SkippedReason})" : null;
            List<Edit> none = skipNote is null && limitNote is null ? [] : [TraceHeader(root, skipNote, limitNote)];
            return new PreparedMessage(structure, message, [], plan.SkippedReason, none);
        }

        var stored = new List<StoredPart>(plan.Targets.Count);
        foreach (var target in plan.Targets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var descriptor = DetachPlanner.Describe(target, message);
            var content = structure.OpenDecoded(target.ContentStart, target.ContentLength, target.Encoding);
            await using (content.ConfigureAwait(false))
            {
                var attachment = await _sink.StoreAsync(descriptor, content, cancellationToken).ConfigureAwait(false);
                attachment = attachment with { FileName = FileNames.Sanitize(attachment.FileName, descriptor.ContentType) };
                stored.Add(new StoredPart(target, descriptor, attachment));
            }
        }
        var attachments = stored.ConvertAll(s => s.Attachment);
        var notice = new DetachNotice(noticeFor(message), _options.ServiceName);
        var edits = new List<Edit> { TraceHeader(root, DetachNotice.Summary(attachments), limitNote) };
        if (stored.Find(s => s.Target.IsWholePart && s.Entity == root) is { } whole)
        {
            edits.Add(Edit.Replace(root.HeaderStart, root.End, ReplacementParts.RootReplacement(root, whole, attachments, notice)));
        }
        else
        {
            // An mbox-style Content-Length would no longer be true.
            foreach (var field in root.Headers)
            {
                if (field.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    edits.Add(Edit.Delete(field.Offset, field.Offset + field.Raw.Length));
                }
            }
            foreach (var part in stored)
            {
                byte[] replacement = part.Target.IsWholePart ? ReplacementParts.ExternalBodyPart(part, notice, part.Entity.LineEnding) : ReplacementParts.UUBlockReplacement(part, notice);
                edits.Add(Edit.Replace(part.Target.ReplaceStart, part.Target.ReplaceEnd, replacement));
            }
            edits.AddRange(await NoticeEdits.PlanAsync(structure, stored, attachments, notice, cancellationToken).ConfigureAwait(false));
        }
        return new PreparedMessage(structure, message, attachments, null, Edit.InOrder(edits));
    }

    /// <summary>The X-Detach field at the top of the message: what was done, and what could not be looked into.</summary>
    private Edit TraceHeader(MimeEntity root, params string?[] notes) =>
        Edit.Insert(root.HeaderStart, Encoding.ASCII.GetBytes($"{_options.TraceHeaderName}: {string.Join("; ", notes.OfType<string>())}{root.LineEnding}"));
}
