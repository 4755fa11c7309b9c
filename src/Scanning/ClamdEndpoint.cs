using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Detach.Scanning;

/// <summary>Where clamd listens: <c>tcp://host:port</c> (clamd's TCPSocket/TCPAddr) or <c>unix:/path</c> (its LocalSocket).</summary>
public sealed class ClamdEndpoint
{
    private ClamdEndpoint(EndPoint endPoint, string text)
    {
        EndPoint = endPoint;
        Text = text;
    }

    public EndPoint EndPoint { get; }

    /// <summary>The endpoint as configured, for messages.</summary>
    public string Text { get; }

    public override string ToString() => Text;

    public static bool TryParse(string? text, [NotNullWhen(true)] out ClamdEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "it is empty";
            return false;
        }

        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text["unix:".Length..];
            if (!path.StartsWith('/') || path.Length < 2)
            {
                error = "a unix socket needs an absolute path, as in unix:/run/clamav/clamd.ctl";
                return false;
            }

            endpoint = new ClamdEndpoint(new UnixDomainSocketEndPoint(path), "unix:" + path);
            error = null;
            return true;
        }

        if (text.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase)
            && Uri.TryCreate(text, UriKind.Absolute, out var uri)
            && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo)
            && !uri.IsDefaultPort && uri.Port is > 0 and <= 65535 && uri.Host.Length > 0)
        {
            var host = uri.Host.Trim('[', ']');
            EndPoint address = IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, uri.Port) : new DnsEndPoint(host, uri.Port);
            endpoint = new ClamdEndpoint(address, $"tcp://{uri.Authority}");
            error = null;
            return true;
        }

        error = "it must be tcp://host:port (clamd's TCPSocket, e.g. tcp://127.0.0.1:3310) or unix:/path (its LocalSocket, e.g. unix:/run/clamav/clamd.ctl)";
        return false;
    }

    /// <summary>Opens a connection; the caller owns the socket.</summary>
    internal async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = EndPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(EndPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
