using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Detach.Gateway.Configuration;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>
/// Limits key attempts (metadata calls, and downloads that bring a key in X-Detach-Key) per client
/// address and minute (Gateway:KeyAttemptsPerMinute). Downloads that bring a download token already
/// proved their key and pass freely. IPv6 clients are grouped by /64, since one host usually has a whole one.
/// </summary>
public sealed class KeyAttemptRateLimit(IOptions<GatewayOptions> options) : IRateLimiterPolicy<string>
{
    public const string PolicyName = "detach-key-attempts";

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (context, cancellationToken) =>
    {
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
        await GatewayAnswers.WriteProblemAsync(context.HttpContext, GatewayProblem.TooManyAttempts(retryAfter)).ConfigureAwait(false);
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        if (!IsKeyAttempt(httpContext.Request))
        {
            return RateLimitPartition.GetNoLimiter("");
        }

        var permits = options.Value.KeyAttemptsPerMinute;
        return RateLimitPartition.GetFixedWindowLimiter(ClientPartition(httpContext.Connection.RemoteIpAddress), _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permits,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    public static bool IsKeyAttempt(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return HttpMethods.IsPost(request.Method) || request.Headers.ContainsKey(LinkKeyHeader.Name);
    }

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
}
