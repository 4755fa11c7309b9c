namespace Detach.Smtp;

/// <summary>Configuration of <see cref="SmtpRelayClient"/>.</summary>
public sealed class SmtpRelayClientOptions
{
    /// <summary>Our name in EHLO/LHLO.</summary>
    public string ClientName { get; set; } = "localhost";

    /// <summary>Speak LMTP: LHLO, one DATA reply per accepted recipient.</summary>
    public bool Lmtp { get; set; }

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Wait for the reply to each command (RFC 5321 4.5.3.2 asks for 5 minutes).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Wait for the reply after the final dot (RFC 5321: 10 minutes).</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest XFORWARD command we send, CRLF included; attributes are split across commands to fit.</summary>
    public int MaxCommandLineLength { get; set; } = 512;

    /// <summary>
    /// Continue after the server's replies on the runtime's socket event thread (see
    /// <see cref="SmtpServerOptions.InlineCompletions"/>): the caller's code after each await must then be light.
    /// </summary>
    public bool InlineCompletions { get; set; }

    /// <summary>Reply limits; a reply over them breaks the connection.</summary>
    public SmtpReplyParser ReplyParser { get; set; } = SmtpReplyParser.Default;
}
