using System.Net;
using System.Text;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>
/// ASP.NET Core's forwarded-headers middleware reads X-Forwarded-For but not the standard Forwarded header (RFC 7239;
/// dotnet/aspnetcore#5978). For a peer that is a trusted proxy and sent no X-Forwarded-For, this copies the
/// Forwarded header's for= values into X-Forwarded-For, in order, so that the same middleware, with the same trust
/// rules, settles on the client. Anything a peer that is not trusted sends is left alone, and so ignored.
/// </summary>
public sealed class ForwardedForTranslation(RequestDelegate next, IOptions<ForwardedHeadersOptions> options)
{
    private const string ForwardedHeader = "Forwarded";

    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var headers = context.Request.Headers;
        if (headers.ContainsKey(ForwardedHeader) && !headers.ContainsKey(ForwardedHeadersDefaults.XForwardedForHeaderName)
            && IsTrusted(context.Connection.RemoteIpAddress))
        {
            var clients = ForValues(headers[ForwardedHeader].ToString());
            if (clients.Count > 0)
            {
                headers[ForwardedHeadersDefaults.XForwardedForHeaderName] = string.Join(", ", clients);
            }
        }

        return next(context);
    }

    /// <summary>
    /// The for= value of each element of a Forwarded header, in order, as X-Forwarded-For writes addresses:
    /// quotes removed, an IPv6 address without its brackets and port, an IPv4 address without its port.
    /// Obfuscated identifiers and "unknown" stay as they are; the middleware stops at them.
    /// </summary>
    public static List<string> ForValues(string header)
    {
        ArgumentNullException.ThrowIfNull(header);
        var values = new List<string>();
        foreach (var element in Split(header, ','))
        {
            foreach (var pair in Split(element, ';'))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && pair[..equals].Trim().Equals("for", StringComparison.OrdinalIgnoreCase))
                {
                    values.Add(AddressOf(pair[(equals + 1)..].Trim().Trim('"')));
                }
            }
        }

        return values;
    }

    private static string AddressOf(string node)
    {
        if (node.StartsWith('[') && node.IndexOf(']', StringComparison.Ordinal) is > 0 and var close)
        {
            return node[1..close];
        }

        var colon = node.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon == node.LastIndexOf(':') ? node[..colon] : node;
    }

    /// <summary>Splits on <paramref name="separator"/> outside quoted strings (RFC 9110 section 5.6.4).</summary>
    private static IEnumerable<string> Split(string text, char separator)
    {
        var part = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted && c == '\\' && i + 1 < text.Length)
            {
                part.Append(c).Append(text[++i]);
                continue;
            }

            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == separator && !quoted)
            {
                yield return part.ToString();
                part.Clear();
                continue;
            }

            part.Append(c);
        }

        yield return part.ToString();
    }

    private bool IsTrusted(IPAddress? peer)
    {
        if (peer is null)
        {
            return false;
        }

        if (peer.IsIPv4MappedToIPv6)
        {
            peer = peer.MapToIPv4();
        }

        var known = options.Value;
        return known.KnownProxies.Contains(peer) || known.KnownIPNetworks.Any(network => network.Contains(peer));
    }
}
