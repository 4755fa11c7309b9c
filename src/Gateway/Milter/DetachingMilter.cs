using System.Buffers;
using Detach.Gateway.Configuration;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Milter;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Milter;

/// <summary>
/// The milter: each message's header and body are spooled as the proxy spools them (memory while small, a private
/// file past 2 MiB); plain mail is accepted at end of headers; at end of message the same detacher runs and the
/// milter answers with the header edits, the new body and the verdict.
/// </summary>
/// <remarks>
/// Settlement. The milter cannot learn whether the MTA queued the message: Postfix sends SMFIC_ABORT after every
/// transaction, delivered or not, and a later milter or the queue file write may still refuse it without telling
/// us. So "delivered" means "our accept is on its way": the attachments are committed just before the verdict is
/// sent. A tempfail, a failure before that point, or an MTA that goes away while we store abandons them. Of the two
/// ways to be wrong this keeps the harmless one: an object nobody links to expires with its retention, where a
/// committed-too-late object could be collected while a delivered mail links to it.
/// </remarks>
public sealed class DetachingMilter(
    DetachSettings settings,
    MilterDetacher detacher,
    MessageSpools spools,
    DetachMetrics metrics,
    ILogger<DetachingMilter> logger) : IMilterBackend
{
    private static readonly ReadOnlyMemory<byte> Colon = ":"u8.ToArray();
    private static readonly ReadOnlyMemory<byte> LineEnd = "\r\n"u8.ToArray();

    private static readonly MilterVerdict StorageFailed = MilterVerdict.Reply(451, "4.3.0", "Attachment storage failed, try again later");

    private readonly DetachSettings _settings = settings;
    private readonly MilterDetacher _detacher = detacher;
    private readonly DetachMetrics _metrics = metrics;
    private readonly ILogger _logger = logger;

    public ValueTask<IMilterHandler> OpenAsync(MilterContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IMilterHandler>(new Connection(this, context));

    private SpillStream CreateSpool() => spools.Create();

    private sealed class Connection(DetachingMilter milter, MilterContext context) : IMilterHandler
    {
        private Message? _message;

        public ValueTask ConnectAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public async ValueTask MailAsync(string sender, CancellationToken cancellationToken)
        {
            await DropAsync().ConfigureAwait(false);
            _message = new Message(sender, milter.CreateSpool());
        }

        public ValueTask RecipientAsync(string recipient, CancellationToken cancellationToken)
        {
            if (_message is not null)
            {
                _message.Recipients++;
            }
            return ValueTask.CompletedTask;
        }

        public async ValueTask HeaderAsync(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        {
            if (_message is null)
            {
                return;
            }

            // Written as the SMTP front writes DATA: in memory on the socket event thread, a write that reaches the
            // disk (past the message's memory or the host's) on the thread pool, so one large message holds up no
            // other session.
            var spool = _message.Spool;
            await spool.WriteAsync(name, cancellationToken).ConfigureAwait(false);
            await spool.WriteAsync(Colon, cancellationToken).ConfigureAwait(false);

            // The MTA folds with LF alone; the spool is CRLF throughout, as the message is on the wire.
            var rest = value;
            for (int lf = rest.Span.IndexOf((byte)'\n'); lf >= 0; lf = rest.Span.IndexOf((byte)'\n'))
            {
                await spool.WriteAsync(rest[..(lf > 0 && rest.Span[lf - 1] == '\r' ? lf - 1 : lf)], cancellationToken).ConfigureAwait(false);
                await spool.WriteAsync(LineEnd, cancellationToken).ConfigureAwait(false);
                rest = rest[(lf + 1)..];
            }

            await spool.WriteAsync(rest, cancellationToken).ConfigureAwait(false);
            await spool.WriteAsync(LineEnd, cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask<MilterVerdict> EndOfHeadersAsync(bool headersComplete, CancellationToken cancellationToken)
        {
            if (_message is null)
            {
                return MilterVerdict.Accept;
            }

            if (!headersComplete)
            {
                milter._logger.LogWarning("Milter {Session} (queue {QueueId}): more than {Max} header fields (Milter:MaxHeaders); message passed unchanged",
                    context.SessionId, QueueId, milter._settings.Milter.MaxHeaders);
                return await PassAsync().ConfigureAwait(false);
            }

            var spool = _message.Spool;
            await spool.WriteAsync(LineEnd, cancellationToken).ConfigureAwait(false);
            if (!await milter._detacher.NeedsBodyAsync(spool, cancellationToken).ConfigureAwait(false))
            {
                // Plain mail, most of the traffic: the MTA need not send the body at all.
                return await PassAsync().ConfigureAwait(false);
            }

            spool.Position = spool.Length;
            return MilterVerdict.Continue;
        }

        public async ValueTask BodyAsync(ReadOnlySequence<byte> chunk, CancellationToken cancellationToken)
        {
            if (_message is null)
            {
                return;
            }

            foreach (var segment in chunk)
            {
                await _message.Spool.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task<MilterMessageResult> EndOfMessageAsync(CancellationToken cancellationToken)
        {
            if (_message is not { } current)
            {
                return new MilterMessageResult(MilterVerdict.Accept);
            }

            _message = null;
            await using var spool = current.Spool;
            var output = milter.CreateSpool();
            try
            {
                if (spool.IsSpilled)
                {
                    // A message held in memory is parsed where it arrived; a bigger one would hold up other sessions.
                    await ThreadPoolHop.Now;
                }

                MilterRewrite rewrite;
                try
                {
                    rewrite = await milter._detacher.RewriteAsync(spool, output, new MessageEnvelope(current.Sender, current.Recipients, QueueId), cancellationToken).ConfigureAwait(false);
                }
                catch (MessageRefusedException e)
                {
                    milter._logger.LogWarning("Milter {Session} (queue {QueueId}): message refused: {Reply}", context.SessionId, QueueId, e.Message);
                    (e.Reply.IsPermanentFailure ? milter._metrics.MessagesRejected : milter._metrics.MessagesTempFailed).Add(1);
                    await output.DisposeAsync().ConfigureAwait(false);
                    var reply = e.Reply;
                    var text = string.Concat(reply.Text.Select(c => c is >= ' ' and < (char)127 ? c : '?'));
                    return new MilterMessageResult(MilterVerdict.Reply(reply.Code, reply.EnhancedCode ?? $"{reply.Code / 100}.0.0", text));
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    milter._logger.LogError(e, "Milter {Session} (queue {QueueId}): could not store the attachments; answering 451 so the sender retries", context.SessionId, QueueId);
                    milter._metrics.MessagesTempFailed.Add(1);
                    await output.DisposeAsync().ConfigureAwait(false);
                    return new MilterMessageResult(StorageFailed);
                }

                await using (rewrite.ConfigureAwait(false))
                {
                    return await AnswerAsync(spool, output, rewrite, cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                await output.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        /// <summary>The edits and new body for a rewritten message, committed just before they go out.</summary>
        private async Task<MilterMessageResult> AnswerAsync(SpillStream spool, SpillStream output, MilterRewrite rewrite, CancellationToken cancellationToken)
        {
            MilterMessageResult result;
            try
            {
                if (rewrite.Unchanged)
                {
                    await output.DisposeAsync().ConfigureAwait(false);
                    result = new MilterMessageResult(MilterVerdict.Accept);
                }
                else
                {
                    // Only the header block is held in memory, and only for a message the detacher changed, whose
                    // header is small enough for it to have read (it leaves larger ones as they are).
                    const int MaxHeaderBytes = 1024 * 1024;
                    var before = await HeaderBlock.ReadAsync(spool, MaxHeaderBytes, cancellationToken).ConfigureAwait(false);
                    var after = await HeaderBlock.ReadAsync(output, MaxHeaderBytes, cancellationToken).ConfigureAwait(false);
                    output.Position = after.BodyStart;
                    var edits = HeaderDiff.Edits(before.Fields, after.Fields);
                    if (rewrite.BodyChanged)
                    {
                        result = new MilterMessageResult(MilterVerdict.Accept) { HeaderEdits = edits, ReplacementBody = output };
                    }
                    else
                    {
                        await output.DisposeAsync().ConfigureAwait(false);
                        result = new MilterMessageResult(MilterVerdict.Accept) { HeaderEdits = edits };
                    }
                }

                await rewrite.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                return result;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                milter._logger.LogError(e, "Milter {Session} (queue {QueueId}): could not finish the message; answering 451 so the sender retries", context.SessionId, QueueId);
                milter._metrics.MessagesTempFailed.Add(1);
                await output.DisposeAsync().ConfigureAwait(false);
                await rewrite.AbandonAsync(CancellationToken.None).ConfigureAwait(false);
                return new MilterMessageResult(StorageFailed);
            }
        }

        public ValueTask AbortAsync(CancellationToken cancellationToken) => DropAsync();

        public ValueTask DisposeAsync() => DropAsync();

        private string? QueueId => context.Macros["i"];

        /// <summary>Ends a message here: nothing was or will be detached from it.</summary>
        private async ValueTask<MilterVerdict> PassAsync()
        {
            await DropAsync().ConfigureAwait(false);
            milter._metrics.MessagesProcessed.Add(1);
            return MilterVerdict.Accept;
        }

        private async ValueTask DropAsync()
        {
            if (_message is { } dropped)
            {
                _message = null;
                await dropped.Spool.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class Message(string sender, SpillStream spool)
    {
        public string Sender { get; } = sender;

        public SpillStream Spool { get; } = spool;

        public int Recipients { get; set; }
    }
}
