using Detach.Smtp;

namespace Detach.Gateway.Processing;

/// <summary>
/// The pipeline refuses a message on purpose (a policy decision, not a failure): the SMTP front answers with
/// <see cref="SmtpException.Reply"/>, `detach filter` exits with a permanent or temporary failure to match.
/// </summary>
public sealed class MessageRefusedException(SmtpReply reply, Exception? innerException = null) : SmtpException(reply, innerException);
