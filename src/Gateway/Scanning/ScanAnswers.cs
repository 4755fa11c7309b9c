using Detach.Scanning;
using Detach.Smtp;

namespace Detach.Gateway.Scanning;

/// <summary>What the sender's side is told when the scan gate stops a message: an SMTP reply, or a sysexits code for `detach filter`.</summary>
public static class ScanAnswers
{
    /// <summary>sysexits.h EX_NOPERM: Postfix's pipe(8) bounces the message with 5.7.0.</summary>
    public const int RefusedExitCode = 77;

    /// <summary>The reply for a message the gate stopped, or null when <paramref name="error"/> is not the gate's.</summary>
    public static SmtpReply? ReplyFor(Exception error) => error switch
    {
        InfectedAttachmentException infected =>
            new SmtpReply(554, "5.7.1", $"Message refused: an attachment contains {InfectedAttachmentException.SafeText(infected.Signature)}"),
        ScannerException => new SmtpReply(451, "4.3.0", "Attachment scanner unavailable, try again later"),
        _ => null,
    };

    /// <summary>The exit code of `detach filter` for a message the gate stopped, or null when <paramref name="error"/> is not the gate's.</summary>
    public static int? ExitCodeFor(Exception error) => error switch
    {
        InfectedAttachmentException => RefusedExitCode,
        ScannerException => 75,
        _ => null,
    };
}
