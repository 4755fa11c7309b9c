namespace Detach.Smtp;

/// <summary>One ESMTP parameter "KEYWORD[=value]" of MAIL or RCPT; <see cref="Keyword"/> keeps the client's case.</summary>
public readonly record struct SmtpParameter(string Keyword, string? Value);

/// <summary>
/// A parsed MAIL FROM. <see cref="ReversePath"/> is the text between the angle brackets ("" for the null
/// sender); <see cref="RawParameters"/> is the parameter text exactly as the client sent it, for relaying.
/// </summary>
public sealed class MailFromCommand
{
    public MailFromCommand(string reversePath, string rawParameters, IReadOnlyList<SmtpParameter> parameters)
    {
        ReversePath = reversePath;
        RawParameters = rawParameters;
        Parameters = parameters;
    }

    public string ReversePath { get; }

    public string RawParameters { get; }

    public IReadOnlyList<SmtpParameter> Parameters { get; }

    /// <summary>SIZE=n as declared by the client, if any.</summary>
    public long? DeclaredSize => SmtpParameters.Find(Parameters, "SIZE") is { Value: { } v } && long.TryParse(v, out long n) ? n : null;

    /// <summary>BODY=7BIT / 8BITMIME, upper-cased, if given.</summary>
    public string? Body => SmtpParameters.Find(Parameters, "BODY")?.Value?.ToUpperInvariant();

    public bool SmtpUtf8 => SmtpParameters.Find(Parameters, "SMTPUTF8") is not null;

    public string? this[string keyword] => SmtpParameters.Find(Parameters, keyword)?.Value;
}

/// <summary>A parsed RCPT TO, with the same verbatim parameter text as <see cref="MailFromCommand"/>.</summary>
public sealed class RcptToCommand
{
    public RcptToCommand(string forwardPath, string rawParameters, IReadOnlyList<SmtpParameter> parameters)
    {
        ForwardPath = forwardPath;
        RawParameters = rawParameters;
        Parameters = parameters;
    }

    /// <summary>The text between the angle brackets.</summary>
    public string ForwardPath { get; }

    public string RawParameters { get; }

    public IReadOnlyList<SmtpParameter> Parameters { get; }

    public string? this[string keyword] => SmtpParameters.Find(Parameters, keyword)?.Value;
}

/// <summary>HELO, EHLO or LHLO as received.</summary>
public sealed record HelloCommand(string Verb, string Domain);

internal static class SmtpParameters
{
    public static SmtpParameter? Find(IReadOnlyList<SmtpParameter> parameters, string keyword)
    {
        foreach (SmtpParameter p in parameters)
        {
            if (string.Equals(p.Keyword, keyword, StringComparison.OrdinalIgnoreCase))
            {
                return p;
            }
        }

        return null;
    }
}
