using Detach.Gateway.Configuration;
using Detach.Gateway.Delivery;
using Detach.Gateway.Processing;
using Detach.Gateway.SmtpFront;
using Detach.Smtp;
using Detach.Vault.Index;
using MimeKit;

namespace Detach.Gateway.Notify;

/// <summary>
/// Hands one notice to the mail system: Notify:Relay if set, else the configured next hop (the after-filter smtpd,
/// which queues it in Postfix like any other mail, or LMTP), else the standalone Maildir. A fresh connection per
/// notice: notices are rare, and the next hop's pool belongs to client sessions.
/// </summary>
public sealed class NoticeRelay(DetachSettings settings, TimeProvider time)
{
    private static readonly MailFromCommand NullSender = new("", "", []);
    private static readonly Dictionary<string, string?> NoClient = [];

    private readonly MailboxAddress from = settings.Notify.FromMailbox(settings.Root.PublicUrl, settings.Smtp.ServerName);

    /// <summary>Where notices go, for log lines.</summary>
    public string Target => Route() ?? $"the Maildir {MaildirPath}";

    private string MaildirPath => Path.Combine(settings.Root.FullDataPath, "maildir");

    /// <summary>Sends the notice; null when the relay accepted it, else its refusal (the reply to MAIL, RCPT or DATA).</summary>
    /// <exception cref="IOException">The relay could not be reached or broke off (also SocketException, TimeoutException, SmtpException).</exception>
    public async Task<SmtpReply?> SendAsync(SenderNotice notice, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var languages = settings.Policy.NoticeLanguagesFor(MessageIdentity.DomainOf(notice.Recipient));
        var message = SenderNoticeMessage.ToBytes(SenderNoticeMessage.Create(notice, from, time.GetUtcNow(), languages));
        var session = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var mail = await session.MailAsync(NullSender, NoClient, cancellationToken).ConfigureAwait(false);
            if (!mail.IsPositiveCompletion)
            {
                return mail;
            }

            var recipient = await session.RcptAsync(new RcptToCommand(notice.Recipient, "", []), cancellationToken).ConfigureAwait(false);
            if (!recipient.IsPositiveCompletion)
            {
                await session.ResetAsync(cancellationToken).ConfigureAwait(false);
                return recipient;
            }

            var replies = await session.DataAsync(new MemoryStream(message), cancellationToken).ConfigureAwait(false);
            return replies.FirstOrDefault(r => !r.IsPositiveCompletion);
        }
    }

    private string? Route() =>
        !string.IsNullOrWhiteSpace(settings.Notify.Relay) ? settings.Notify.Relay
        : !string.IsNullOrWhiteSpace(settings.Smtp.NextHop) ? settings.Smtp.NextHop
        : null;

    private async Task<INextHopSession> ConnectAsync(CancellationToken cancellationToken)
    {
        if (Route() is not { } route)
        {
            return new MaildirNextHop(new MaildirWriter(MaildirPath));
        }

        NextHopAddress.TryParse(route, out var address, out _);
        return await RelayNextHop.ConnectAsync(address!, settings.Smtp.ServerName, TimeSpan.FromSeconds(settings.Smtp.NextHopTimeoutSeconds),
            inlineCompletions: false, cancellationToken).ConfigureAwait(false);
    }
}
