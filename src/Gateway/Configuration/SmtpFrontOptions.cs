using System.Net;

namespace Detach.Gateway.Configuration;

/// <summary>The SMTP front (section "Smtp"): where Postfix hands sessions over and where mail goes next.</summary>
public sealed class SmtpFrontOptions
{
    /// <summary>Address the proxy listens on; Postfix's smtpd_proxy_filter points here. Empty disables the SMTP front.</summary>
    public string Listen { get; set; } = "127.0.0.1:10025";

    /// <summary>
    /// smtp://host:port (the after-filter smtpd, with XFORWARD), lmtp://host:port or lmtp:/path/to/socket (Dovecot),
    /// or empty: rewritten mail is written to the Maildir under the data folder.
    /// </summary>
    public string? NextHop { get; set; }

    /// <summary>
    /// Speak LMTP instead of SMTP to the client (Postfix's lmtp transport): with an LMTP next hop too, each
    /// recipient's delivery status is relayed exactly.
    /// </summary>
    public bool Lmtp { get; set; }

    /// <summary>Name in the banner and EHLO reply.</summary>
    public string ServerName { get; set; } = "detach.localhost";

    /// <summary>Largest message accepted, announced as SIZE in EHLO; keep it ≥ Postfix's message_size_limit.</summary>
    public long MaxMessageBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Concurrent sessions in all; more connections get 421 4.3.2.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>RCPT commands accepted per transaction (more get 452 4.5.3), as Postfix's smtpd_recipient_limit.</summary>
    public int MaxRecipients { get; set; } = 1000;

    /// <summary>
    /// Concurrent sessions from one client (an IPv4 address or an IPv6 /64); more get 421 4.7.0. Clients in
    /// AuthorizedXforwardNetworks are exempt (the before-filter Postfix speaks for all its clients). 0: no limit.
    /// </summary>
    public int MaxConnectionsPerClient { get; set; } = 20;

    /// <summary>
    /// Longest text line accepted in DATA, or 0 for no limit. Behind Postfix keep 0: Postfix accepts longer lines
    /// and refusing them here would refuse mail it took (memory stays bounded either way, lines are streamed).
    /// Set 1000 (RFC 5321's limit) when clients reach detach directly.
    /// </summary>
    public int MaxTextLineLength { get; set; }

    /// <summary>Seconds a client may stay silent between commands.</summary>
    public int IdleTimeoutSeconds { get; set; } = 300;

    /// <summary>Seconds one session may last in all.</summary>
    public int SessionTimeoutSeconds { get; set; } = 1800;

    /// <summary>
    /// Seconds a message (DATA or BDAT) may wait for the client's bytes, as Postfix's smtpd_timeout; with
    /// MinDataRateBytesPerSecond a budget for the whole message that each arriving byte tops up.
    /// </summary>
    public int DataTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Octets a second a message must arrive at on average, as Postfix's smtpd_min_data_rate: slower clients
    /// (slowloris) run out of DataTimeoutSeconds. 0: each read may take the whole timeout.
    /// </summary>
    public int MinDataRateBytesPerSecond { get; set; } = 500;

    /// <summary>Seconds to wait for each reply of the next hop.</summary>
    public int NextHopTimeoutSeconds { get; set; } = 90;

    /// <summary>
    /// Idle next-hop connections kept for the next client session (each serves one session at a time, is kept only
    /// between transactions and dropped after 30 s idle); 0 opens and closes one per client session.
    /// </summary>
    public int NextHopPoolSize { get; set; } = 32;

    /// <summary>
    /// Networks whose XFORWARD/XCLIENT attributes are trusted (the before-filter Postfix). A configured list replaces
    /// the default; an empty one ([] in JSON, or an empty value) trusts nobody.
    /// </summary>
    [ListDefault("127.0.0.0/8", "::1/128")]
    public List<string> AuthorizedXforwardNetworks { get; set; } = [];

    /// <summary>
    /// Run session code on the runtime's socket event thread (a runtime-internal, experimental per-socket knob; see
    /// the README's scaling section for the risk). False, or a runtime without the knob, runs it on the thread pool.
    /// </summary>
    public bool InlineCompletions { get; set; } = true;

    /// <summary>PEM certificate (with its key in TlsKeyPath, or a PFX) for STARTTLS; empty disables STARTTLS.</summary>
    public string? TlsCertificatePath { get; set; }

    public string? TlsKeyPath { get; set; }

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Listen) && !IPEndPoint.TryParse(Listen, out _))
        {
            yield return $"Smtp:Listen must be an address and port such as 127.0.0.1:10025, not '{Listen}'.";
        }

        if (!string.IsNullOrWhiteSpace(NextHop) && !NextHopAddress.TryParse(NextHop, out _, out var error))
        {
            yield return $"Smtp:NextHop {error}";
        }

        if (MaxMessageBytes < 1024)
        {
            yield return "Smtp:MaxMessageBytes must be at least 1024.";
        }

        if (MaxTextLineLength is < 0 or (> 0 and < 1000))
        {
            yield return $"Smtp:MaxTextLineLength must be 0 (no limit) or at least 1000 (RFC 5321), not {MaxTextLineLength}.";
        }

        if (MaxConnections < 1)
        {
            yield return "Smtp:MaxConnections must be at least 1.";
        }

        if (MaxRecipients < 1)
        {
            yield return "Smtp:MaxRecipients must be at least 1 (RFC 5321 asks for 100).";
        }

        if (MaxConnectionsPerClient < 0)
        {
            yield return "Smtp:MaxConnectionsPerClient must be 0 (no limit per client) or more.";
        }

        if (DataTimeoutSeconds < 1 || DataTimeoutSeconds > SessionTimeoutSeconds)
        {
            yield return $"Smtp:DataTimeoutSeconds must be at least 1 and at most Smtp:SessionTimeoutSeconds ({SessionTimeoutSeconds}), not {DataTimeoutSeconds}.";
        }

        if (MinDataRateBytesPerSecond < 0)
        {
            yield return "Smtp:MinDataRateBytesPerSecond must be 0 (no minimum) or more.";
        }

        if (IdleTimeoutSeconds < 1 || SessionTimeoutSeconds < IdleTimeoutSeconds)
        {
            yield return "Smtp:IdleTimeoutSeconds must be at least 1 and Smtp:SessionTimeoutSeconds at least as long.";
        }

        if (NextHopPoolSize < 0)
        {
            yield return "Smtp:NextHopPoolSize must be 0 (no pooling) or more.";
        }

        if (NextHopTimeoutSeconds < 1)
        {
            yield return "Smtp:NextHopTimeoutSeconds must be at least 1.";
        }

        foreach (var network in AuthorizedXforwardNetworks)
        {
            if (!IPNetwork.TryParse(network, out _))
            {
                yield return $"Smtp:AuthorizedXforwardNetworks has '{network}', which is not a CIDR network such as 127.0.0.0/8.";
            }
        }

        if (!string.IsNullOrEmpty(TlsCertificatePath) && !File.Exists(TlsCertificatePath))
        {
            yield return $"Smtp:TlsCertificatePath names '{TlsCertificatePath}', which does not exist.";
        }
    }
}

/// <summary>Where rewritten mail goes after the proxy: an SMTP or LMTP server, over TCP or a unix socket.</summary>
public sealed record NextHopAddress(bool Lmtp, string? Host, int Port, string? SocketPath)
{
    public static bool TryParse(string text, out NextHopAddress? address, out string error)
    {
        address = null;
        error = "";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != "smtp" && uri.Scheme != "lmtp"))
        {
            error = $"must be smtp://host:port, lmtp://host:port or lmtp:/path/to/socket, not '{text}'.";
            return false;
        }

        var lmtp = uri.Scheme == "lmtp";
        if (string.IsNullOrEmpty(uri.Host))
        {
            if (!lmtp || string.IsNullOrEmpty(uri.AbsolutePath) || uri.AbsolutePath == "/")
            {
                error = $"must name a host and port (or, for lmtp, a socket path), not '{text}'.";
                return false;
            }

            address = new NextHopAddress(true, null, 0, uri.AbsolutePath);
            return true;
        }

        if (uri.IsDefaultPort || uri.Port <= 0)
        {
            error = $"must give the port explicitly, as in {uri.Scheme}://{uri.Host}:{(lmtp ? 24 : 10026)}.";
            return false;
        }

        address = new NextHopAddress(lmtp, uri.Host, uri.Port, null);
        return true;
    }

    public override string ToString() =>
        SocketPath is not null ? $"lmtp:{SocketPath}" : $"{(Lmtp ? "lmtp" : "smtp")}://{Host}:{Port}";
}
