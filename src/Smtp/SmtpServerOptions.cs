using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Detach.Smtp;

/// <summary>Configuration of <see cref="SmtpServer"/> and <see cref="SmtpSession"/>.</summary>
public sealed class SmtpServerOptions
{
    /// <summary>Where to listen: <see cref="IPEndPoint"/> (port 0 picks one) or <see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>.</summary>
    public IList<EndPoint> EndPoints { get; } = [];

    /// <summary>Name in the banner and the EHLO reply.</summary>
    public string ServerName { get; set; } = "localhost";

    /// <summary>Speak LMTP (RFC 2033): LHLO instead of HELO/EHLO, one DATA reply per recipient.</summary>
    public bool Lmtp { get; set; }

    /// <summary>Concurrent sessions; more connections get 421 4.3.2 at accept.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>
    /// Concurrent sessions from one client (an IPv4 address, or an IPv6 /64: one host usually holds a whole /64);
    /// more get 421 4.7.0 at accept, so one client cannot take every slot. <see cref="AuthorizedForwarders"/> are
    /// exempt: the before-filter Postfix speaks for many clients. 0: no limit per client.
    /// </summary>
    public int MaxConnectionsPerClient { get; set; } = 20;

    public SmtpLimits Limits { get; set; } = new();

    /// <summary>Clients allowed to send XFORWARD and XCLIENT (Postfix's smtpd_authorized_xforward_hosts).</summary>
    public IList<IPNetwork> AuthorizedForwarders { get; } = [];

    /// <summary>Certificate (with private key) for STARTTLS; null means STARTTLS is not offered.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Announce CHUNKING (RFC 3030) and take BDAT; without it BDAT is refused with 502 as any unknown command.</summary>
    public bool Chunking { get; set; } = true;

    /// <summary>Announce DSN (RFC 3461) and pass RET/ENVID/NOTIFY/ORCPT through to the backend.</summary>
    public bool Dsn { get; set; } = true;

    /// <summary>
    /// Run session code straight on the runtime's socket event thread when a client's bytes arrive (Unix only; see
    /// <see cref="InlineCompletions"/>). Faster for many small messages, but then the backend's calls must not
    /// block or compute for long: storing, hashing or fsync belong on the thread pool, where the backend must move
    /// them itself. Off by default.
    /// </summary>
    public bool InlineCompletions { get; set; }

    /// <summary>How long shutdown waits for busy sessions before it drops them.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Limits);
        Limits.Validate();
        if (string.IsNullOrWhiteSpace(ServerName) || ServerName.AsSpan().IndexOfAny(" \r\n") >= 0)
        {
            throw new ArgumentException("ServerName must be a host name without spaces.", nameof(ServerName));
        }

        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "Must be at least 1.");
        }

        if (MaxConnectionsPerClient < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnectionsPerClient), MaxConnectionsPerClient, "Must be 0 (no limit) or more.");
        }
    }
}
