namespace Detach.Smtp;

/// <summary>Per-session limits of the server. <see cref="Validate"/> throws on nonsense values.</summary>
public sealed class SmtpLimits
{
    /// <summary>Longest command line, CRLF included. RFC 5321 4.5.3.1.4: 512.</summary>
    public int MaxCommandLineLength { get; set; } = 512;

    /// <summary>Longest message text line on the wire, CRLF included; 0 disables the check. RFC 5321 4.5.3.1.6: 1000.</summary>
    public int MaxTextLineLength { get; set; } = 1000;

    /// <summary>Largest message (after unstuffing), announced as SIZE.</summary>
    public long MaxMessageSize { get; set; } = 64L * 1024 * 1024;

    /// <summary>RCPT commands accepted per transaction; more get 452 4.5.3.</summary>
    public int MaxRecipients { get; set; } = 1000;

    /// <summary>Protocol errors (bad syntax, sequence, unknown commands) before 421 and close.</summary>
    public int MaxErrors { get; set; } = 20;

    /// <summary>Longest wait for the client's next command or next bytes of data.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest life of a session.</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Longest wait for the client's bytes while a message arrives (DATA, or BDAT chunks and the commands between
    /// them), as Postfix's smtpd_timeout; with <see cref="MinDataRate"/> a budget for the whole message (<see cref="DataDeadline"/>).
    /// </summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Octets a second a message must arrive at on average, as Postfix's smtpd_min_data_rate (500): each octet gives back
    /// 1/rate s of <see cref="DataTimeout"/>, so a trickling client is cut. 0: every read may take the whole timeout.
    /// </summary>
    public int MinDataRate { get; set; } = 500;

    /// <summary>A fresh deadline for one message.</summary>
    public DataDeadline NewDataDeadline() => new(DataTimeout, MinDataRate);

    public void Validate()
    {
        if (MaxCommandLineLength is < 512 or > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxCommandLineLength), MaxCommandLineLength, "Must be 512-65536 (RFC 5321 minimum is 512).");
        }

        if (MaxTextLineLength != 0 && MaxTextLineLength is < 1000 or > 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTextLineLength), MaxTextLineLength, "Must be 0 (no limit) or 1000-1048576 (RFC 5321 minimum is 1000).");
        }

        if (MaxMessageSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), MaxMessageSize, "Must be at least 1024.");
        }

        if (MaxRecipients < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRecipients), MaxRecipients, "Must be at least 1 (RFC 5321 asks for 100).");
        }

        if (MaxErrors < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxErrors), MaxErrors, "Must be at least 1.");
        }

        if (IdleTimeout <= TimeSpan.Zero || SessionTimeout <= TimeSpan.Zero || DataTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), "Timeouts must be positive.");
        }

        if (MinDataRate < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinDataRate), MinDataRate, "Must be 0 (no minimum) or more.");
        }
    }
}
