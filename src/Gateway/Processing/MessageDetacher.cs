using Detach.Gateway.Configuration;
using Detach.Gateway.Metrics;
using Detach.Mime;
using Detach.Smtp;
using Detach.Vault;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Processing;

/// <summary>What the envelope says about a message: who sent it and to how many recipients.</summary>
public sealed record MessageEnvelope(string? Sender, int RecipientCount, string? QueueId = null);

/// <summary>
/// One message through the vault: reads the spooled message and stores each attachment the policy selects
/// (encrypted, durable, indexed); the result writes the rewritten message. The caller settles it: commit just
/// before the message goes out, abandon if the next hop refused it with a reply (the stored objects then become
/// garbage to collect).
/// </summary>
public sealed class MessageDetacher(
    AttachmentVault vault,
    DetachSettings settings,
    DetachMetrics metrics,
    ILogger<MessageDetacher> logger,
    IEnumerable<IAttachmentInspector>? inspectors = null)
{
    private readonly IAttachmentInspector[] inspectors = [.. inspectors ?? []];

    /// <summary>The header field that carries the inspections' warnings.</summary>
    public const string ScanHeaderName = "X-Detach-Scan";

    /// <summary>
    /// Parses <paramref name="spool"/> (from its start) and stores its attachments; nothing is written yet. The spool
    /// must stay open until the result is written or disposed.
    /// </summary>
    public async Task<DetachedMessage> PrepareAsync(Stream spool, MessageEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(envelope);
        spool.Position = 0;
        var sink = new VaultSink(vault, envelope, inspectors);
        try
        {
            var prepared = await new MimeRewriter(settings.Policy, sink).PrepareAsync(spool, headers => NoticeFor(headers, envelope), cancellationToken).ConfigureAwait(false);
            if (sink.Warnings.Count > 0)
            {
                // Whoever reads the message (and its filters) learns what the inspections flagged or took out.
                prepared = prepared.WithHeaderField(ScanHeaderName, string.Join("; ", sink.Warnings.Distinct(StringComparer.Ordinal)));
            }

            if (prepared.LimitExceeded is { } limit)
            {
                metrics.MessagesPastLimit.Add(1, new KeyValuePair<string, object?>("action", "deliver"));
                logger.LogWarning("Message {MessageId} (queue {QueueId}) is past a parser limit ({Limit}): delivered with the parts past it as they came (Policy:WhenLimitExceeded=Deliver)",
                    MessageIdentity.MessageIdOf(prepared.Headers) ?? "-", envelope.QueueId ?? "-", limit);
            }

            if (prepared.Detached.Count == 0 && prepared.SkippedReason is null)
            {
                // Plain mail, most of the traffic: the SMTP log already has a line for it.
                logger.LogDebug("Message (queue {QueueId}): nothing to detach", envelope.QueueId ?? "-");
            }
            else
            {
                logger.LogInformation("Message {MessageId} (queue {QueueId}): {Count} attachment(s) detached{Skipped}",
                    MessageIdentity.MessageIdOf(prepared.Headers) ?? "-", envelope.QueueId ?? "-", prepared.Detached.Count,
                    prepared.SkippedReason is null ? "" : $", left alone: {prepared.SkippedReason}");
            }

            return new DetachedMessage(prepared, sink.Attachments, metrics);
        }
        catch (MimeLimitExceededException e)
        {
            throw Refuse(e, envelope);
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

    /// <summary>A message past a parser limit that the policy does not deliver: nothing was stored, the client gets the reason.</summary>
    private MessageRefusedException Refuse(MimeLimitExceededException e, MessageEnvelope envelope)
    {
        var permanent = e.Action == LimitExceededAction.Reject;
        metrics.MessagesPastLimit.Add(1, new KeyValuePair<string, object?>("action", permanent ? "reject" : "tempfail"));
        logger.LogWarning("Message (queue {QueueId}) is past a parser limit ({Limit}): {Refusal} (Policy:WhenLimitExceeded={Action})",
            envelope.QueueId ?? "-", e.Limit, permanent ? "rejected" : "deferred", e.Action);
        var reply = permanent
            ? new SmtpReply(554, "5.6.0", $"Message structure past a limit ({e.Limit}), refused")
            : new SmtpReply(451, "4.6.0", $"Message structure past a limit ({e.Limit}), try again later");
        return new MessageRefusedException(reply, e);
    }

    /// <summary>The notice in the sender's domain's language (Policy:Language, Policy:LanguageBySenderDomain), with the links' download limit.</summary>
    private NoticeOptions NoticeFor(MessageHeaders headers, MessageEnvelope envelope) => new()
    {
        Languages = settings.Policy.NoticeLanguagesFor(MessageIdentity.SenderDomainOf(headers, envelope)),
        MaxDownloadsPerLink = settings.Gateway.MaxDownloadsPerLink,
    };
}

/// <summary>A prepared message whose attachments are stored but whose links are not yet out in the world.</summary>
/// <remarks><paramref name="attachments"/> is null when nothing was stored.</remarks>
public sealed class DetachedMessage(PreparedMessage result, MessageAttachments? attachments, DetachMetrics metrics) : IAsyncDisposable
{
    /// <summary>What was detached; <see cref="PreparedMessage.Unchanged"/> says the spool itself may be sent.</summary>
    public PreparedMessage Result => result;

    /// <summary>Writes the message, rewritten or not, while the spool it was prepared from is open.</summary>
    public Task WriteToAsync(Stream output, CancellationToken cancellationToken) => result.WriteToAsync(output, cancellationToken);

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
