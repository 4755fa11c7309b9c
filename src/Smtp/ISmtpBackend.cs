namespace Detach.Smtp;

/// <summary>
/// What the server talks to. One <see cref="ISmtpSessionHandler"/> per client connection, one
/// <see cref="ISmtpTransaction"/> per MAIL transaction. Protocol code never sees what the backend does;
/// the backend speaks SMTP only through the <see cref="SmtpReply"/> values it returns or the
/// <see cref="SmtpException"/> it throws (written as is). Any other exception becomes 451 4.3.0
/// and the session goes on.
/// </summary>
public interface ISmtpBackend
{
    /// <summary>Called once the connection is accepted, before the greeting (a proxy opens its next hop here).</summary>
    ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken);
}

/// <summary>One client connection. Disposed when the connection ends, however it ends.</summary>
public interface ISmtpSessionHandler : IAsyncDisposable
{
    /// <summary>
    /// After HELO/EHLO/LHLO (context.HeloName is set). Return null to accept with the server's own reply,
    /// or a negative reply to refuse the greeting.
    /// </summary>
    ValueTask<SmtpReply?> HelloAsync(HelloCommand hello, CancellationToken cancellationToken) => ValueTask.FromResult<SmtpReply?>(null);

    /// <summary>
    /// After an authorised XFORWARD or XCLIENT command; the attributes so far are in
    /// context.Forwarded / context.Client. Return null to answer with the server's own reply.
    /// </summary>
    ValueTask<SmtpReply?> ForwardAsync(SmtpSessionContext context, CancellationToken cancellationToken) => ValueTask.FromResult<SmtpReply?>(null);

    /// <summary>MAIL FROM. Accept with a transaction and the reply to give (a next hop's reply, verbatim), or reject with a reply.</summary>
    ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken);
}

/// <summary>One MAIL transaction. Disposed when it ends: after DATA, RSET, a new HELO, QUIT or a dropped connection.</summary>
public interface ISmtpTransaction : IAsyncDisposable
{
    /// <summary>RCPT TO. A 2yz reply accepts the recipient; any reply is written verbatim.</summary>
    ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken);

    /// <summary>
    /// The message, dot-unstuffed, ending at the final dot; reads throw <see cref="SmtpException"/> when a limit is
    /// passed and <see cref="IOException"/> when the client goes away, so a message that ends normally is complete.
    /// The session drains whatever is left unread before it answers with the returned reply.
    /// </summary>
    ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken);
}

/// <summary>LMTP add-on (RFC 2033): one reply per accepted recipient, in RCPT order.</summary>
public interface ILmtpTransaction : ISmtpTransaction
{
    ValueTask<IReadOnlyList<SmtpReply>> LmtpDataAsync(Stream message, CancellationToken cancellationToken);
}

/// <summary>The answer to MAIL FROM: either a transaction and its positive reply, or a refusal.</summary>
public sealed class MailResult
{
    private MailResult(ISmtpTransaction? transaction, SmtpReply reply)
    {
        Transaction = transaction;
        Reply = reply;
    }

    public ISmtpTransaction? Transaction { get; }

    public SmtpReply Reply { get; }

    /// <param name="reply">A 2yz reply (a next hop's, verbatim); null for "250 2.1.0 Ok".</param>
    public static MailResult Accept(ISmtpTransaction transaction, SmtpReply? reply = null)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        reply ??= new SmtpReply(250, "2.1.0", "Ok");
        if (!reply.IsPositiveCompletion)
        {
            throw new ArgumentException("An accepted MAIL needs a 2yz reply.", nameof(reply));
        }

        return new MailResult(transaction, reply);
    }

    public static MailResult Reject(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.IsPositiveCompletion || reply.IsPositiveIntermediate)
        {
            throw new ArgumentException("A refused MAIL needs a 4yz or 5yz reply.", nameof(reply));
        }

        return new MailResult(null, reply);
    }
}
