using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Detach.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>
/// Counts wrong keys per client and link (Gateway:KeyAttemptsPerMinute) and per client over all links
/// (Gateway:KeyAttemptsPerClientPerMinute), in one-minute windows; past either, a wrong key is answered 429 instead
/// of 403. A key is counted only once it has failed, and only a failed key is refused: a right key opens its file
/// whatever other requests, from the same address or not, sent before it. Keys are 256 bits, so the limit is
/// against load and noise, not guessing; a wrong key costs one record's read and MAC, less than the download a
/// right key starts. The client is the address the forwarded-headers middleware settled on (Gateway:TrustedProxies);
/// IPv6 clients are grouped by /64, since one host usually has a whole one.
/// </summary>
public sealed class WrongKeyLimit : IDisposable
{
    private readonly PartitionedRateLimiter<(string Client, string Cid)> _limiter;

    public WrongKeyLimit(IOptions<GatewayOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var perLink = options.Value.KeyAttemptsPerMinute;
        var perClient = options.Value.KeyAttemptsPerClientPerMinute;
        _limiter = PartitionedRateLimiter.CreateChained(
            PartitionedRateLimiter.Create<(string Client, string Cid), (string, string)>(attempt =>
                RateLimitPartition.GetFixedWindowLimiter(attempt, _ => PerMinute(perLink))),
            PartitionedRateLimiter.Create<(string Client, string Cid), string>(attempt =>
                RateLimitPartition.GetFixedWindowLimiter(attempt.Client, _ => PerMinute(perClient))));
    }

    /// <summary>Counts one wrong key from <paramref name="client"/> for <paramref name="cid"/>: null within the limits, else how long to wait.</summary>
    public TimeSpan? Count(IPAddress? client, string cid)
    {
        using var lease = _limiter.AttemptAcquire((ClientPartition(client), cid));
        if (lease.IsAcquired)
        {
            return null;
        }

        return lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
    }

    public void Dispose() => _limiter.Dispose();

    public static string ClientPartition(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            bytes[8..].Clear();
            return new IPAddress(bytes).ToString() + "/64";
        }

        return address.ToString();
    }

    private static FixedWindowRateLimiterOptions PerMinute(int permits) => new()
    {
        PermitLimit = permits,
        Window = TimeSpan.FromMinutes(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}
