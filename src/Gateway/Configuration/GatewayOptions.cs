using System.Net;

namespace Detach.Gateway.Configuration;

/// <summary>The HTTP download gateway (section "Gateway").</summary>
public sealed class GatewayOptions
{
    /// <summary>Kestrel URL(s) to listen on, separated by ';'. Empty disables the gateway.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:8080";

    /// <summary>Downloads served at once; more wait for a slot, then get 503.</summary>
    public int MaxConcurrentDownloads { get; set; } = 32;

    /// <summary>
    /// Wrong keys one client may send for one link per minute; past it, its wrong keys for that link get 429.
    /// Only wrong keys count, and a right key is never refused.
    /// </summary>
    public int KeyAttemptsPerMinute { get; set; } = 30;

    /// <summary>Wrong keys one client may send per minute, all links together.</summary>
    public int KeyAttemptsPerClientPerMinute { get; set; } = 100;

    /// <summary>
    /// Reverse proxies (networks such as 10.0.0.0/8, or single addresses) whose X-Forwarded-For or Forwarded
    /// header names the client. Empty (the default): no header is believed and the client is the peer.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Completed downloads allowed per link; empty for no limit.</summary>
    public int? MaxDownloadsPerLink { get; set; }

    /// <summary>Minutes a download token (handed to the browser after it proved the key) stays valid.</summary>
    public int DownloadTokenMinutes { get; set; } = 60;

    /// <summary>
    /// Mail the sender once when each attachment is first downloaded (its name and when; never who or from where).
    /// Off by default: the sender's address is then not stored at all. How notices leave: section Notify.
    /// </summary>
    public bool NotifySender { get; set; }

    /// <summary>
    /// Per sender domain, true or false, overriding NotifySender ("Gateway:NotifySenderBySenderDomain:example.com": true).
    /// Starts empty: binding adds to a dictionary, so a default here could never be taken away. Text rather than bool,
    /// because the binder silently drops a dictionary value it cannot convert; Validate names it instead.
    /// </summary>
    public Dictionary<string, string> NotifySenderBySenderDomain { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether mail from <paramref name="senderDomain"/> gets first-download notices.</summary>
    public bool NotifiesSender(string senderDomain) =>
        NotifySenderBySenderDomain.TryGetValue(senderDomain, out var text) && bool.TryParse(text, out var notify) ? notify : NotifySender;

    public IEnumerable<string> Validate()
    {
        foreach (var url in Listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                yield return $"Gateway:Listen must be http(s)://address:port URLs separated by ';', not '{url}'.";
            }
        }

        if (MaxConcurrentDownloads < 1)
        {
            yield return "Gateway:MaxConcurrentDownloads must be at least 1.";
        }

        if (KeyAttemptsPerMinute < 1)
        {
            yield return "Gateway:KeyAttemptsPerMinute must be at least 1.";
        }

        if (KeyAttemptsPerClientPerMinute < KeyAttemptsPerMinute)
        {
            yield return "Gateway:KeyAttemptsPerClientPerMinute must be at least Gateway:KeyAttemptsPerMinute.";
        }

        foreach (var proxy in TrustedProxies)
        {
            if (!TryParseNetwork(proxy, out var network))
            {
                yield return $"Gateway:TrustedProxies has '{proxy}', which is neither a network such as 10.0.0.0/8 nor an address.";
            }
            else if (network.PrefixLength == 0)
            {
                yield return $"Gateway:TrustedProxies has '{proxy}', every address: any client could then name its own address.";
            }
        }

        if (MaxDownloadsPerLink is < 1)
        {
            yield return "Gateway:MaxDownloadsPerLink must be at least 1, or empty for no limit.";
        }

        if (DownloadTokenMinutes is < 1 or > 24 * 60)
        {
            yield return "Gateway:DownloadTokenMinutes must be between 1 and 1440.";
        }

        foreach (var (domain, notify) in NotifySenderBySenderDomain)
        {
            if (Uri.CheckHostName(domain) != UriHostNameType.Dns)
            {
                yield return $"Gateway:NotifySenderBySenderDomain:{domain} must be keyed by a domain name such as example.com.";
            }
            else if (!bool.TryParse(notify, out _))
            {
                yield return $"Gateway:NotifySenderBySenderDomain:{domain} must be true or false, not '{notify}'.";
            }
        }
    }

    /// <summary>A CIDR network, or a single address as the network of just that address.</summary>
    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        if (IPNetwork.TryParse(text, out network))
        {
            return true;
        }

        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
            return true;
        }

        return false;
    }
}
