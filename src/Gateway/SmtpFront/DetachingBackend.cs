using Detach.Gateway.Configuration;
using Detach.Gateway.Delivery;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Smtp;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.SmtpFront;

/// <summary>
/// The before-queue proxy (Postfix SMTPD_PROXY_README): each client session gets its own next-hop connection;
/// MAIL and RCPT are relayed and the next hop's replies returned verbatim; the message is spooled, its
/// attachments stored, and the rewritten message sent on. The final dot is answered only with the next hop's
/// own reply, after it came; any failure before that is 451 4.3.0 and the downstream transaction is abandoned.
/// </summary>
public sealed class DetachingBackend(
    DetachSettings settings,
    MessageDetacher detacher,
    MessageSpools spools,
    DetachMetrics metrics,
    ILogger<DetachingBackend> logger) : ISmtpBackend, IAsyncDisposable
{
    internal DetachSettings Settings { get; } = settings;
    internal MessageDetacher Detacher { get; } = detacher;
    internal DetachMetrics Metrics { get; } = metrics;
    internal ILogger Logger { get; } = logger;

    // The spill folder exists from the start (and a DataPath we cannot write to shows at once), though small
    // messages never reach it.
    internal string SpillFolder { get; } = Directory.CreateDirectory(Path.Combine(settings.Root.FullDataPath, "tmp")).FullName;

    private readonly NextHopAddress? _nextHop =
        string.IsNullOrWhiteSpace(settings.Smtp.NextHop) ? null
        : NextHopAddress.TryParse(settings.Smtp.NextHop, out var address, out _) ? address : null;

    /// <summary>A spool for one message: in memory while small and while the host's budget lasts, else on disk.</summary>
    internal SpillStream CreateSpool() => spools.Create();

    private readonly MaildirWriter _maildir = new(Path.Combine(settings.Root.FullDataPath, "maildir"));

    public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ISmtpSessionHandler>(new Session(this, context));

    private readonly NextHopPool _pool = new(settings.Smtp.NextHopPoolSize);

    /// <summary>A next-hop connection for one session: an idle one from the pool (reused = true), or a new one.</summary>
    internal async Task<(INextHopSession Hop, bool Reused)> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_nextHop is null)
        {
            return (new MaildirNextHop(_maildir), false);
        }

        if (await _pool.TakeAsync().ConfigureAwait(false) is { } pooled)
        {
            return (pooled, true);
        }

        var timeout = TimeSpan.FromSeconds(Settings.Smtp.NextHopTimeoutSeconds);
        var hop = await RelayNextHop.ConnectAsync(_nextHop, Settings.Smtp.ServerName, timeout, SmtpFrontService.UsesInlineCompletions(Settings.Smtp), cancellationToken).ConfigureAwait(false);
        return (hop, false);
    }

    /// <summary>Next-hop connections kept idle for the next client session.</summary>
    public int IdleNextHopConnections => _pool.IdleCount;

    /// <summary>The session is over: keep its next-hop connection for another session if it is healthy.</summary>
    internal Task ReleaseAsync(INextHopSession hop) =>
        hop is RelayNextHop relay ? _pool.ReturnAsync(relay) : hop.DisposeAsync().AsTask();

    public ValueTask DisposeAsync() => _pool.DisposeAsync();

    private static readonly SmtpReply NextHopDown = new(451, "4.4.1", "Next hop unavailable, try again later");
    private static readonly SmtpReply StorageFailed = new(451, "4.3.0", "Attachment storage failed, try again later");
    private static readonly SmtpReply NextHopFailed = new(451, "4.4.2", "Next hop failed during delivery, try again later");

    private sealed class Session(DetachingBackend backend, SmtpSessionContext context) : ISmtpSessionHandler
    {
        private INextHopSession? _next;

        public async ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken)
        {
            if (_next is RelayNextHop { IsUsable: false })
            {
                await _next.DisposeAsync().ConfigureAwait(false);
                _next = null;
            }

            var reused = false;
            try
            {
                if (_next is null)
                {
                    (_next, reused) = await backend.ConnectAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                backend.Logger.LogWarning("Session {Session}: next hop {NextHop} unavailable: {Error}", context.SessionId, backend.Settings.Smtp.NextHop, e.Message);
                backend.Metrics.MessagesTempFailed.Add(1);
                return MailResult.Reject(NextHopDown);
            }

            try
            {
                var reply = await _next.MailAsync(mail, context.ClientIdentity(), cancellationToken).ConfigureAwait(false);
                if (reused && reply.Code == 421)
                {
                    throw new IOException("The next hop closed the pooled connection: " + reply.Text);
                }

                return reply.IsPositiveCompletion ? MailResult.Accept(new Transaction(backend, context, _next, mail), reply) : MailResult.Reject(reply);
            }
            catch (Exception e) when (e is IOException or TimeoutException or SmtpException)
            {
                await _next.DisposeAsync().ConfigureAwait(false);
                _next = null;
                if (reused)
                {
                    // A pooled connection the next hop closed meanwhile: try once more on a fresh one.
                    return await BeginTransactionAsync(mail, cancellationToken).ConfigureAwait(false);
                }

                backend.Logger.LogWarning("Session {Session}: next hop failed at MAIL: {Error}", context.SessionId, e.Message);
                return MailResult.Reject(NextHopDown);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_next is not null)
            {
                await backend.ReleaseAsync(_next).ConfigureAwait(false);
            }
        }
    }

    private sealed class Transaction(DetachingBackend backend, SmtpSessionContext context, INextHopSession next, MailFromCommand mail) : ILmtpTransaction
    {
        private readonly List<string> _recipients = [];

        public async ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken)
        {
            try
            {
                var reply = await next.RcptAsync(recipient, cancellationToken).ConfigureAwait(false);
                if (reply.IsPositiveCompletion)
                {
                    _recipients.Add(recipient.ForwardPath);
                }

                return reply;
            }
            catch (Exception e) when (e is IOException or TimeoutException or SmtpException)
            {
                backend.Logger.LogWarning("Session {Session}: next hop failed at RCPT: {Error}", context.SessionId, e.Message);
                return NextHopDown;
            }
        }

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
        {
            var replies = await DeliverAsync(message, cancellationToken).ConfigureAwait(false);
            if (replies.Count == 1)
            {
                return replies[0];
            }

            // An SMTP client in front of an LMTP next hop gets one answer for several recipients. A partial failure
            // cannot be told apart, so ask for a retry (duplicates for some beat losing mail for others); an LMTP
            // front (Smtp:Lmtp) reports each recipient exactly.
            if (replies.All(r => r.IsPositiveCompletion))
            {
                return replies[0];
            }

            return replies.FirstOrDefault(r => r.IsPermanentFailure && replies.All(o => !o.IsPositiveCompletion))
                ?? new SmtpReply(451, "4.3.0", "Some recipients could not take the message, try again later");
        }

        public async ValueTask<IReadOnlyList<SmtpReply>> LmtpDataAsync(Stream message, CancellationToken cancellationToken)
        {
            var replies = await DeliverAsync(message, cancellationToken).ConfigureAwait(false);
            return replies.Count == _recipients.Count ? replies : Enumerable.Repeat(replies[0], _recipients.Count).ToList();
        }

        private async Task<IReadOnlyList<SmtpReply>> DeliverAsync(Stream message, CancellationToken cancellationToken)
        {
            await using var spool = backend.CreateSpool();
            try
            {
                // Reads end at the final dot; a limit or a vanished client throws, and the session answers.
                await message.CopyToAsync(spool, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await next.ResetAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            await using var output = backend.CreateSpool();
            DetachedMessage? detached = null;
            var envelope = new MessageEnvelope(mail.ReversePath, _recipients.Count, context.Forwarded.GetValueOrDefault("IDENT"));
            if (spool.IsSpilled)
            {
                // A message held in memory is parsed where it arrived; a bigger one would hold up other sessions.
                await ThreadPoolHop.Now;
            }

            try
            {
                detached = await backend.Detacher.PrepareAsync(spool, envelope, cancellationToken).ConfigureAwait(false);
                if (!detached.Result.Unchanged)
                {
                    await detached.WriteToAsync(output, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (MessageRefusedException e)
            {
                // Refused on purpose: whoever refused it (the parser limit policy, a scanner) logged why.
                (e.Reply.IsPermanentFailure ? backend.Metrics.MessagesRejected : backend.Metrics.MessagesTempFailed).Add(1);
                await next.ResetAsync(CancellationToken.None).ConfigureAwait(false);
                return [e.Reply];
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (detached is not null)
                {
                    await detached.DisposeAsync().ConfigureAwait(false);
                }

                backend.Logger.LogError(e, "Session {Session}: could not store the attachments; answering 451 so the sender retries", context.SessionId);
                backend.Metrics.MessagesTempFailed.Add(1);
                await next.ResetAsync(CancellationToken.None).ConfigureAwait(false);
                return [StorageFailed];
            }

            await using (detached)
            {
                try
                {
                    // Before the final dot: once it is sent, a lost reply must not cost a delivered copy its links.
                    await detached.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    backend.Logger.LogError(e, "Session {Session}: could not commit the attachments; answering 451 so the sender retries", context.SessionId);
                    backend.Metrics.MessagesTempFailed.Add(1);
                    await next.ResetAsync(CancellationToken.None).ConfigureAwait(false);
                    return [StorageFailed];
                }

                // Nothing to change: the message goes on as it came, from the input spool (the output stayed empty).
                Stream rewritten = detached.Result.Unchanged ? spool : output;
                rewritten.Position = 0;
                IReadOnlyList<SmtpReply> replies;
                try
                {
                    replies = await next.DataAsync(rewritten, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // No reply to the final dot: the next hop may have stored the message and died before answering. The
                    // sender retries on the 451 (a duplicate at worst); the attachments stay live, so a copy that was
                    // delivered keeps working links.
                    backend.Logger.LogWarning(
                        "Session {Session}: no reply from the next hop to the message (queue {QueueId}): it may have been delivered; " +
                        "its {Count} attachment(s) stay until they expire. {Error}",
                        context.SessionId, envelope.QueueId ?? "-", detached.Result.Detached.Count, e.Message);
                    (next as RelayNextHop)?.Abort();
                    backend.Metrics.MessagesTempFailed.Add(1);
                    return [NextHopFailed];
                }

                if (replies.Any(r => r.IsPositiveCompletion))
                {
                    detached.CountDelivered();
                }
                else
                {
                    await detached.AbandonAsync(CancellationToken.None).ConfigureAwait(false);
                    (replies.All(r => r.IsPermanentFailure) ? backend.Metrics.MessagesRejected : backend.Metrics.MessagesTempFailed).Add(1);
                }

                return replies;
            }
        }

        /// <summary>A transaction the client abandoned (RSET, a new MAIL after an error, QUIT) must not stay open downstream.</summary>
        public async ValueTask DisposeAsync() => await next.ResetAsync(CancellationToken.None).ConfigureAwait(false);
    }
}
