namespace Detach.Smtp;

/// <summary>The extensions the EHLO/LHLO reply announces, from the server's options and what the session knows.</summary>
internal static class EhloKeywords
{
    public static List<string> For(SmtpServerOptions options, SmtpSessionContext context)
    {
        var lines = new List<string> { "PIPELINING", $"SIZE {options.Limits.MaxMessageSize}" };
        if (options.Certificate is not null && !context.IsTls)
        {
            lines.Add("STARTTLS");
        }

        lines.Add("ENHANCEDSTATUSCODES");
        lines.Add("8BITMIME");
        if (options.Chunking)
        {
            lines.Add("CHUNKING");
        }

        if (options.Dsn)
        {
            lines.Add("DSN");
        }

        lines.Add("SMTPUTF8");
        if (context.IsForwardingAuthorized)
        {
            // Only to clients that may use them: to anyone else they would only advertise what is refused.
            lines.Add("XFORWARD " + string.Join(' ', ForwardingAttributes.XforwardNames));
            lines.Add("XCLIENT " + string.Join(' ', ForwardingAttributes.XclientNames));
        }

        return lines;
    }
}
