using System.Net;

namespace Detach.Smtp;

/// <summary>What the session knows about its client; the session updates it as commands arrive.</summary>
public sealed class SmtpSessionContext
{
    private readonly Dictionary<string, string> _forwarded = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> _client = new(StringComparer.OrdinalIgnoreCase);

    public SmtpSessionContext(string sessionId, EndPoint? remoteEndPoint, EndPoint? localEndPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        SessionId = sessionId;
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = localEndPoint;
    }

    /// <summary>Short id for logs, unique per server process.</summary>
    public string SessionId { get; }

    public EndPoint? RemoteEndPoint { get; }

    public EndPoint? LocalEndPoint { get; }

    /// <summary>The HELO/EHLO/LHLO argument, null before the greeting (and again after STARTTLS or XCLIENT).</summary>
    public string? HeloName { get; internal set; }

    /// <summary>"HELO", "EHLO" or "LHLO".</summary>
    public string? HeloVerb { get; internal set; }

    public bool IsTls { get; internal set; }

    public bool IsLmtp { get; internal set; }

    /// <summary>The client may send XFORWARD/XCLIENT (its address is in the authorised networks).</summary>
    public bool IsForwardingAuthorized { get; internal set; }

    /// <summary>
    /// XFORWARD attributes (NAME ADDR PORT PROTO HELO IDENT SOURCE), xtext-decoded; "[UNAVAILABLE]" and
    /// "[TEMPUNAVAIL]" are kept as sent. Postfix sends them before MAIL; they are cleared when the transaction ends.
    /// </summary>
    public IReadOnlyDictionary<string, string> Forwarded => _forwarded;

    /// <summary>XCLIENT attributes (NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT), kept for the session.</summary>
    public IReadOnlyDictionary<string, string> Client => _client;

    /// <summary>
    /// What a next hop should record as the client (the XFORWARD attributes a relay sends): what an authorised
    /// forwarder sent, or else this connection's own peer, so the next hop's Received line always names the real
    /// origin and never an identity an unauthorised client claimed.
    /// </summary>
    public IReadOnlyDictionary<string, string?> ClientIdentity()
    {
        var identity = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach ((string name, string value) in _forwarded)
        {
            identity[name] = value;
        }

        if (identity.Count == 0 && ClientAddress.Of(RemoteEndPoint) is { } address)
        {
            identity["ADDR"] = address.ToString();
            identity["PORT"] = ((IPEndPoint)RemoteEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            identity["HELO"] = HeloName;
            identity["PROTO"] = HeloVerb == "HELO" ? "SMTP" : "ESMTP";
        }

        return identity;
    }

    internal void SetForwarded(string name, string value) => _forwarded[name] = value;

    internal void ClearForwarded() => _forwarded.Clear();

    internal void SetClient(string name, string value) => _client[name] = value;
}
