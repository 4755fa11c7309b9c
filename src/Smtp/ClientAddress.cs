using System.Net;

namespace Detach.Smtp;

/// <summary>Who a connection comes from, for the XFORWARD trust check and the connection limit per client.</summary>
internal static class ClientAddress
{
    /// <summary>The peer's IP address, IPv4-mapped addresses (a dual-mode listener) unmapped; null for a unix socket.</summary>
    public static IPAddress? Of(EndPoint? remote) =>
        remote is IPEndPoint ip ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address) : null;

    public static bool IsIn(EndPoint? remote, IEnumerable<IPNetwork> networks) =>
        Of(remote) is { } address && networks.Any(n => n.Contains(address));

    /// <summary>
    /// The group a client's connections are counted in: its IPv4 address, or its IPv6 /64 (the smallest block a site
    /// is given, so one host cannot dodge the limit by changing its interface identifier); null when not an IP peer.
    /// </summary>
    public static IPAddress? Group(EndPoint? remote)
    {
        if (Of(remote) is not { } address)
        {
            return null;
        }

        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
