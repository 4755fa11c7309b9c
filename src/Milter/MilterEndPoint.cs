using System.Net;
using System.Net.Sockets;

namespace Detach.Milter;

/// <summary>
/// A milter listening address as MTAs spell it: Postfix's <c>inet:127.0.0.1:10027</c>, <c>inet:[::1]:10027</c>,
/// <c>unix:/path/milter.sock</c> (or <c>local:</c>), Sendmail's <c>inet:10027@127.0.0.1</c>, or a bare
/// <c>127.0.0.1:10027</c>. Hosts are IP addresses: a listener binds to an address, not a name.
/// </summary>
public static class MilterEndPoint
{
    public static bool TryParse(string? text, out EndPoint? endPoint, out string error)
    {
        endPoint = null;
        error = "";
        var value = text?.Trim() ?? "";
        if (value.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) || value.StartsWith("local:", StringComparison.OrdinalIgnoreCase))
        {
            var path = value[(value.IndexOf(':', StringComparison.Ordinal) + 1)..];
            if (!path.StartsWith('/'))
            {
                error = $"needs an absolute socket path, as in unix:/run/detach/milter.sock, not '{text}'.";
                return false;
            }

            endPoint = new UnixDomainSocketEndPoint(path);
            return true;
        }

        if (value.StartsWith("inet:", StringComparison.OrdinalIgnoreCase) || value.StartsWith("inet6:", StringComparison.OrdinalIgnoreCase))
        {
            value = value[(value.IndexOf(':', StringComparison.Ordinal) + 1)..];
        }

        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            // Sendmail's order: port@host.
            var host = value[(at + 1)..];
            value = (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host) + ":" + value[..at];
        }

        if (IPEndPoint.TryParse(value, out var ip) && value.Contains(':', StringComparison.Ordinal) && ip.Port > 0)
        {
            endPoint = ip;
            return true;
        }

        error = $"must be inet:host:port with an IP address, host:port, or unix:/path (as in Postfix's smtpd_milters), not '{text}'.";
        return false;
    }

    /// <summary>How Postfix's smtpd_milters names <paramref name="endPoint"/>: inet:127.0.0.1:10027 or unix:/path.</summary>
    public static string ToPostfix(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => $"inet:{ip}",
        UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? "",
    };
}
