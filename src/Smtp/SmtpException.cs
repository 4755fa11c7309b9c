namespace Detach.Smtp;

/// <summary>
/// A failure that has an SMTP answer. A backend throws it to have <see cref="Reply"/> written as is;
/// the client throws it when a server answers a step it cannot go on from (a bad greeting).
/// </summary>
public class SmtpException : Exception
{
    public SmtpException(SmtpReply reply)
        : base(DescribeOrThrow(reply))
    {
        Reply = reply;
    }

    public SmtpException(SmtpReply reply, Exception? innerException)
        : base(DescribeOrThrow(reply), innerException)
    {
        Reply = reply;
    }

    public SmtpException(int code, string enhancedCode, string text)
        : this(new SmtpReply(code, enhancedCode, text))
    {
    }

    public SmtpReply Reply { get; }

    private static string DescribeOrThrow(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.EnhancedCode is null ? $"{reply.Code} {reply.Text}" : $"{reply.Code} {reply.EnhancedCode} {reply.Text}";
    }
}

/// <summary>The peer broke the protocol (malformed reply, over-long line, closed mid-reply); the connection is unusable.</summary>
public class SmtpProtocolException : IOException
{
    public SmtpProtocolException(string message)
        : base(message)
    {
    }

    public SmtpProtocolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
