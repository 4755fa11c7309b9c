using Detach.Gateway.Configuration;
using Detach.Gateway.Metrics;
using Detach.Mime;
using Detach.Vault;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Processing;

/// <summary>What the envelope says about a message: who sent it and to how many recipients.</summary>
public sealed record MessageEnvelope(string? Sender, int RecipientCount, string? QueueId = null);

/// <summary>
/// One message through the vault: reads the spooled message, stores each attachment the policy selects
/// (encrypted, durable, indexed) and writes the rewritten message. The caller settles the result: commit once
/// the next hop accepted the message, abandon otherwise (the stored objects then become garbage to collect).
/// </summary>
public sealed class MessageDetacher(AttachmentVault vault, DetachSettings settings, DetachMetrics metrics, ILogger<MessageDetacher> logger)
{
    /// <summary>Writes the message to <paramref name="output"/>, rewritten or not.</summary>
    public Task<DetachedMessage> DetachAsync(Stream spool, Stream output, MessageEnvelope envelope, CancellationToken cancellationToken) =>
        DetachAsync(spool, output, envelope, writeUnchanged: true, cancellationToken);

    /// <summary>
    /// Like <see cref="DetachAsync(Stream, Stream, MessageEnvelope, CancellationToken)"/>, but a message that comes
    /// out unchanged (<see cref="MimeRewriteResult.Unchanged"/>) is not copied into <paramref name="output"/>:
    /// the caller sends the spool itself, and <paramref name="output"/> stays empty.
    /// </summary>
    public Task<DetachedMessage> DetachUnlessUnchangedAsync(Stream spool, Stream output, MessageEnvelope envelope, CancellationToken cancellationToken) =>
        DetachAsync(spool, output, envelope, writeUnchanged: false, cancellationToken);

    private async Task<DetachedMessage> DetachAsync(Stream spool, Stream output, MessageEnvelope envelope, bool writeUnchanged, CancellationToken cancellationToken)
    {
        spool.Position = 0;
        var sink = new MessageSink(vault, spool, envelope);
        try
        {
            MimeRewriteResult result;
            if (writeUnchanged)
            {
                result = await new MimeRewriter(settings.Policy, sink).RewriteAsync(spool, output, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // The rewriter stores every attachment before it writes its first byte: if nothing was stored by
                // then, the output is the input (unless a skip notice is added), so its bytes need not be kept.
                var elided = new ElidedOutput(output, () => sink.Attachments is { Records.Count: > 0 });
                result = await new MimeRewriter(settings.Policy, sink).RewriteAsync(spool, elided, cancellationToken).ConfigureAwait(false);
                if (elided.Discarded && !result.Unchanged)
                {
                    // Nothing stored but a header added (the rare "skipped" notice): write it again, for real. With
                    // nothing to detach the second pass stores nothing either.
                    spool.Position = 0;
                    result = await new MimeRewriter(settings.Policy, sink).RewriteAsync(spool, output, cancellationToken).ConfigureAwait(false);
                }
            }

            if (result.Detached.Count == 0 && result.SkippedReason is null)
            {
                // Plain mail, most of the traffic: the SMTP log already has a line for it.
                logger.LogDebug("Message (queue {QueueId}): nothing to detach", envelope.QueueId ?? "-");
            }
            else
            {
                var context = await sink.ContextAsync(cancellationToken).ConfigureAwait(false);
                logger.LogInformation("Message {MessageId} (queue {QueueId}): {Count} attachment(s) detached{Skipped}",
                    context.MessageId, envelope.QueueId ?? "-", result.Detached.Count,
                    result.SkippedReason is null ? "" : $", left alone: {result.SkippedReason}");
            }

            return new DetachedMessage(result, sink.Attachments, metrics);
        }
        catch
        {
            if (sink.Attachments is { } attachments)
            {
                await ThreadPoolHop.Now;
                await attachments.AbandonAsync(CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// Opens the vault's side of the message at the first attachment: a message with nothing to detach costs
    /// no header parse (Message-ID, From) and no index work.
    /// </summary>
    private sealed class MessageSink(AttachmentVault vault, Stream spool, MessageEnvelope envelope) : IAttachmentSink
    {
        private MessageContext? context;

        public MessageAttachments? Attachments { get; private set; }

        public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
        {
            await ThreadPoolHop.Now;
            Attachments ??= vault.BeginMessage(await ContextAsync(cancellationToken).ConfigureAwait(false));
            return await Attachments.StoreAsync(attachment, decodedContent, cancellationToken).ConfigureAwait(false);
        }

        public async Task<MessageContext> ContextAsync(CancellationToken cancellationToken)
        {
            if (context is null)
            {
                // The rewriter's readers seek before each read, so reading the head here does not disturb them.
                var position = spool.Position;
                spool.Position = 0;
                var summary = await MessageSummary.ReadAsync(spool, cancellationToken).ConfigureAwait(false);
                spool.Position = position;
                context = new MessageContext(
                    summary.MessageId ?? $"<{Guid.NewGuid():N}@detach.invalid>",
                    MessageSummary.DomainOf(envelope.Sender) ?? summary.FromDomain ?? "unknown",
                    Math.Max(1, envelope.RecipientCount));
            }

            return context;
        }
    }
}

/// <summary>A rewritten message whose attachments are stored but whose links are not yet out in the world.</summary>
/// <remarks><paramref name="attachments"/> is null when nothing was stored.</remarks>
public sealed class DetachedMessage(MimeRewriteResult result, MessageAttachments? attachments, DetachMetrics metrics) : IAsyncDisposable
{
    public MimeRewriteResult Result => result;

    /// <summary>
    /// The message is about to go out (before the final dot, or before the reinjection command's input ends): from
    /// now on its attachments live until they expire, whatever the next hop does or fails to say. Throws when they
    /// cannot be made live; the message must then not go out.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (attachments is not null)
        {
            await ThreadPoolHop.Now;
            await attachments.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The next hop accepted the message: count it.</summary>
    public void CountDelivered()
    {
        metrics.MessagesProcessed.Add(1);
        foreach (var record in attachments?.Records ?? [])
        {
            metrics.OnAttachmentDelivered(record);
        }
    }

    /// <summary>The next hop refused the message with a reply: nobody will ever have these links.</summary>
    public async Task AbandonAsync(CancellationToken cancellationToken)
    {
        if (attachments is not null)
        {
            await ThreadPoolHop.Now;
            await attachments.AbandonAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (attachments is not null)
        {
            await ThreadPoolHop.Now;
            await attachments.DisposeAsync().ConfigureAwait(false);
        }
    }
}
