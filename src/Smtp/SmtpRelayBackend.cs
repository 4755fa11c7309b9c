namespace Detach.Smtp;

/// <summary>
/// A pass-through backend: one next-hop connection per client session; the client's identity (XFORWARD), MAIL and
/// RCPT go downstream and their replies come back verbatim; DATA streams through (the client's dot-unstuffed message
/// is dot-stuffed again on the way out) and only the next hop's final reply is returned. When the client goes away
/// mid-DATA the next hop's connection is dropped before the final dot, so it never accepts half a message. The relaying
/// itself (identity, reset, LMTP replies) is <see cref="SmtpRelayClient"/>'s and <see cref="SmtpSessionContext.ClientIdentity"/>'s,
/// which the Gateway's detaching backend uses too; what is left here is the pass-through policy.
/// SMTP in front of an LMTP next hop (Postfix → detach → Dovecot): an SMTP client can be given only one
/// reply after DATA, so each transaction takes one recipient and further RCPTs get 452 4.5.3, which
/// SMTP clients answer by sending those recipients in another transaction (RFC 5321 3.3).
/// </summary>
public sealed class SmtpRelayBackend : ISmtpBackend
{
    private readonly Func<SmtpSessionContext, CancellationToken, Task<SmtpRelayClient>> _open;

    /// <param name="open">Opens the next-hop connection ready for MAIL, such as <see cref="SmtpRelayClient.OpenAsync"/>.</param>
    public SmtpRelayBackend(Func<SmtpSessionContext, CancellationToken, Task<SmtpRelayClient>> open)
    {
        ArgumentNullException.ThrowIfNull(open);
        _open = open;
    }

    public async ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            return new Session(await _open(context, cancellationToken).ConfigureAwait(false), context);
        }
        catch (SmtpException e) when (!e.Reply.IsPositiveCompletion)
        {
            // The next hop refused us: tell the client to come back later rather than reject its mail.
            throw new SmtpException(new SmtpReply(421, "4.3.0", "Next hop unavailable: " + e.Reply.Text), e);
        }
    }

    private sealed class Session(SmtpRelayClient client, SmtpSessionContext context) : ISmtpSessionHandler
    {
        public async ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken)
        {
            SmtpReply reply = await client.MailAsync(mail, context.ClientIdentity(), cancellationToken).ConfigureAwait(false);
            return reply.IsPositiveCompletion ? MailResult.Accept(new Transaction(client, oneRecipient: client.IsLmtp && !context.IsLmtp), reply) : MailResult.Reject(reply);
        }

        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await client.QuitAsync(timeout.Token).ConfigureAwait(false);
        }
    }

    private sealed class Transaction(SmtpRelayClient client, bool oneRecipient) : ILmtpTransaction
    {
        private static readonly SmtpReply OneAtATime = new(452, "4.5.3", "Error: too many recipients, send the others in another transaction");

        public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
            oneRecipient && client.AcceptedRecipients > 0 ? ValueTask.FromResult(OneAtATime) : new(client.RcptAsync(recipient, cancellationToken));

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken) =>
            (await client.DataAsync(message, cancellationToken).ConfigureAwait(false))[0];

        public async ValueTask<IReadOnlyList<SmtpReply>> LmtpDataAsync(Stream message, CancellationToken cancellationToken)
        {
            int recipients = client.AcceptedRecipients;
            IReadOnlyList<SmtpReply> replies = await client.DataAsync(message, cancellationToken).ConfigureAwait(false);

            // An SMTP next hop, or a refused DATA, gives one reply for all recipients.
            return replies.Count == recipients ? replies : Enumerable.Repeat(replies[0], recipients).ToArray();
        }

        /// <summary>A transaction the client abandoned (RSET, new MAIL after an error) must not stay open downstream.</summary>
        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await client.TryResetAsync(timeout.Token).ConfigureAwait(false);
        }
    }
}
