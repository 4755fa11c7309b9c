using Detach.Gateway.Http;
using Detach.Mime;
using Detach.Vault.Index;
using MimeKit;
using MimeKit.Utils;

namespace Detach.Gateway.Notify;

/// <summary>
/// The notice itself: one short plain-text mail saying which attachment was first downloaded and when, threaded
/// under the sender's own message (In-Reply-To), marked Auto-Submitted so that nobody auto-replies to it, and sent
/// from the null sender so that a bounce cannot loop. It says nothing of who downloaded the file or from where:
/// the gateway does not keep that, and the notice must not become a tracking pixel. It speaks the languages the
/// sender's domain gets notices in.
/// </summary>
public static class SenderNoticeMessage
{
    public static MimeMessage Create(SenderNotice notice, MailboxAddress from, DateTimeOffset now, IReadOnlyList<NoticeLanguage> languages)
    {
        ArgumentNullException.ThrowIfNull(notice);
        ArgumentNullException.ThrowIfNull(from);
        var name = FileNameText.ForDisplay(notice.FileName) is { Length: > 0 } shown ? shown : FileNameText.Fallback;
        var message = new MimeMessage
        {
            Subject = SenderNoticeText.Subject(languages, name),
            Date = now,
            MessageId = MimeUtils.GenerateMessageId(from.Domain),
            Body = new TextPart("plain") { Text = SenderNoticeText.Body(languages, name, notice.DownloadedAt) },
        };
        message.From.Add(from);
        message.To.Add(new MailboxAddress("", notice.Recipient));
        if (notice.MessageId is ['<', .., '>'] && !notice.MessageId.EndsWith("@detach.invalid>", StringComparison.Ordinal))
        {
            message.InReplyTo = notice.MessageId;
            message.References.Add(notice.MessageId[1..^1]);
        }

        message.Headers.Add("Auto-Submitted", "auto-generated");
        return message;
    }

    /// <summary>The message as SMTP carries it: CRLF line ends, 7-bit or quoted-printable.</summary>
    public static byte[] ToBytes(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Prepare(EncodingConstraint.SevenBit);
        using var bytes = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, bytes);
        return bytes.ToArray();
    }
}
