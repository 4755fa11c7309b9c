namespace Detach.Smtp;

/// <summary>
/// A pass-through backend: one next-hop connection per client session; XFORWARD attributes, MAIL and RCPT
/// go downstream and their replies come back verbatim; DATA streams through (the client's dot-unstuffed
/// message is dot-stuffed again on the way out) and only the next hop's final reply is returned. When the
/// client goes away mid-DATA the next hop's connection is dropped before the final dot, so it never accepts
/// half a message. A model for proxies that rewrite the message in between.
/// SMTP in front of an LMTP next hop (Postfix → detach → Dovecot): an SMTP client can be given only one
/// reply after DATA, so each transaction takes one recipient and further RCPTs get 452 4.5.3, which
/// SMTP clients answer by sending those recipients in another transaction (RFC 5321 3.3).
/// </summary>
public sealed class SmtpRelayBackend : ISmtpBackend
{
    private readonly Func<SmtpSessionContext, CancellationToken, Task<SmtpRelayClient>> _connect;

    /// <param name="connect">Opens the next-hop connection (greeting read); <see cref="SmtpRelayClient.HelloAsync"/> is called here.</param>
    public SmtpRelayBackend(Func<SmtpSessionContext, CancellationToken, Task<SmtpRelayClient>> connect)
    {
        ArgumentNullException.ThrowIfNull(connect);
        _connect = connect;
    }

    public async ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        SmtpRelayClient client;
        try
        {
            client = await _connect(context, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpException e) when (!e.Reply.IsPositiveCompletion)
        {
            // The next hop refused us: tell the client to come back later rather than reject its mail.
            throw new SmtpException(new SmtpReply(421, "4.3.0", "Next hop unavailable: " + e.Reply.Text), e);
        }

        SmtpReply hello = await client.HelloAsync(cancellationToken).ConfigureAwait(false);
        if (!hello.IsPositiveCompletion)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new SmtpException(new SmtpReply(421, "4.3.0", "Next hop refused greeting: " + hello.Text));
        }

        return new Session(client, context);
    }

    private sealed class Session(SmtpRelayClient client, SmtpSessionContext context) : ISmtpSessionHandler
    {
        public async ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken)
        {
            SmtpReply reply = await client.MailAsync(mail, context.Forwarded.Select(a => new KeyValuePair<string, string?>(a.Key, a.Value)), cancellationToken).ConfigureAwait(false);
            return reply.IsPositiveCompletion ? MailResult.Accept(new Transaction(client, oneRecipient: client.IsLmtp && !context.IsLmtp), reply) : MailResult.Reject(reply);
        }

        public async ValueTask DisposeAsync()
        {
            if (client.IsUsable)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await client.QuitAsync(timeout.Token).ConfigureAwait(false);
                    return;
                }
                catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or SmtpProtocolException)
                {
                    // The next hop went away first; nothing is pending there.
                }
            }

            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Transaction(SmtpRelayClient client, bool oneRecipient) : ILmtpTransaction
    {
        private static readonly SmtpReply OneAtATime = new(452, "4.5.3", "Error: too many recipients, send the others in another transaction");

        public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
            oneRecipient && client.AcceptedRecipients > 0 ? ValueTask.FromResult(OneAtATime) : new(client.RcptAsync(recipient, cancellationToken));

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
        {
            SmtpReply reply = client.IsLmtp
                ? (await client.LmtpDataAsync(message, cancellationToken).ConfigureAwait(false))[0]
                : await client.DataAsync(message, cancellationToken).ConfigureAwait(false);
            return reply;
        }

        public async ValueTask<IReadOnlyList<SmtpReply>> LmtpDataAsync(Stream message, CancellationToken cancellationToken)
        {
            int recipients = client.AcceptedRecipients;
            IReadOnlyList<SmtpReply> replies = client.IsLmtp
                ? await client.LmtpDataAsync(message, cancellationToken).ConfigureAwait(false)
                : Enumerable.Repeat(await client.DataAsync(message, cancellationToken).ConfigureAwait(false), recipients).ToArray();

            // A refused DATA is one reply for all recipients.
            return replies.Count == recipients ? replies : Enumerable.Repeat(replies[0], recipients).ToArray();
        }

        public async ValueTask DisposeAsync()
        {
            // A transaction the client abandoned (RSET, new MAIL after an error) must not stay open downstream.
            if (client.InTransaction && client.IsUsable)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await client.RsetAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or SmtpProtocolException)
                {
                    // The client aborted the connection; the next hop drops the transaction with it.
                }
            }
        }
    }
}
