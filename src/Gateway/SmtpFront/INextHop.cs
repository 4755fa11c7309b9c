using Detach.Smtp;

namespace Detach.Gateway.SmtpFront;

/// <summary>Where one proxied session's mail goes: the after-filter smtpd, an LMTP server, or the local Maildir.</summary>
public interface INextHopSession : IAsyncDisposable
{
    /// <summary>True when DATA yields one reply per accepted recipient (LMTP).</summary>
    bool RepliesPerRecipient { get; }

    /// <summary>MAIL FROM, preceded by the client's identity (XFORWARD) where the next hop takes it.</summary>
    Task<SmtpReply> MailAsync(MailFromCommand mail, IReadOnlyDictionary<string, string?> client, CancellationToken cancellationToken);

    Task<SmtpReply> RcptAsync(RcptToCommand recipient, CancellationToken cancellationToken);

    /// <summary>The rewritten message; one reply, or one per accepted recipient when <see cref="RepliesPerRecipient"/>.</summary>
    Task<IReadOnlyList<SmtpReply>> DataAsync(Stream message, CancellationToken cancellationToken);

    /// <summary>Ends the transaction without delivering anything.</summary>
    Task ResetAsync(CancellationToken cancellationToken);
}
