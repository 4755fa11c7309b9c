using System.Globalization;
using System.Text;

namespace Detach.Smtp;

/// <summary>
/// Which MAIL and RCPT parameters the server takes (SIZE, BODY, SMTPUTF8, and with DSN RET, ENVID, NOTIFY, ORCPT) and
/// what their values may be, apart from the session. Each check returns the refusal, or null.
/// </summary>
internal static class EnvelopeParameters
{
    public static SmtpReply? CheckMail(MailFromCommand mail, long maxMessageSize, bool dsn)
    {
        if (!mail.SmtpUtf8 && !Ascii.IsValid(mail.ReversePath))
        {
            return MustDeclareSmtpUtf8;
        }

        foreach (SmtpParameter p in mail.Parameters)
        {
            string? value = p.Value;
            switch (p.Keyword.ToUpperInvariant())
            {
                case "SIZE":
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                    {
                        return Bad("SIZE");
                    }

                    if (size > maxMessageSize)
                    {
                        return new SmtpReply(552, "5.3.4", "Message size exceeds fixed limit");
                    }

                    break;
                case "BODY" when !IsOneOf(value, "7BIT", "8BITMIME"):
                    return Bad("BODY");
                case "BODY":
                    break;
                case "SMTPUTF8" when value is not null:
                    return Bad("SMTPUTF8");
                case "SMTPUTF8":
                    break;
                case "RET" when dsn && !IsOneOf(value, "FULL", "HDRS"):
                    return Bad("RET");
                case "ENVID" when dsn && (value is null || !Xtext.TryDecode(value, out _)):
                    return Bad("ENVID");
                case "RET" or "ENVID" when dsn:
                    break;
                default:
                    return Unsupported(p.Keyword);
            }
        }

        return null;
    }

    /// <param name="smtpUtf8">The transaction's MAIL declared SMTPUTF8.</param>
    public static SmtpReply? CheckRcpt(RcptToCommand rcpt, bool dsn, bool smtpUtf8)
    {
        foreach (SmtpParameter p in rcpt.Parameters)
        {
            bool known = dsn && (p.Keyword.Equals("NOTIFY", StringComparison.OrdinalIgnoreCase) || p.Keyword.Equals("ORCPT", StringComparison.OrdinalIgnoreCase));
            if (!known || p.Value is null)
            {
                return Unsupported(p.Keyword);
            }
        }

        return !smtpUtf8 && !Ascii.IsValid(rcpt.ForwardPath) ? MustDeclareSmtpUtf8 : null;
    }

    private static SmtpReply MustDeclareSmtpUtf8 { get; } = new(553, "5.6.7", "Error: must declare SMTPUTF8 to send UTF-8 addresses");

    private static bool IsOneOf(string? value, string a, string b) =>
        value is not null && (value.Equals(a, StringComparison.OrdinalIgnoreCase) || value.Equals(b, StringComparison.OrdinalIgnoreCase));

    private static SmtpReply Bad(string keyword) => new(501, "5.5.4", $"Bad {keyword} parameter");

    private static SmtpReply Unsupported(string keyword) => new(555, "5.5.4", $"Unsupported option: {keyword}");
}
