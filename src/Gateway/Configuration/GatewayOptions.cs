namespace Detach.Gateway.Configuration;

/// <summary>The HTTP download gateway (section "Gateway").</summary>
public sealed class GatewayOptions
{
    /// <summary>Kestrel URL(s) to listen on, separated by ';'. Empty disables the gateway.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:8080";

    /// <summary>Downloads served at once; more wait for a slot, then get 503.</summary>
    public int MaxConcurrentDownloads { get; set; } = 32;

    /// <summary>Key attempts (metadata and token requests) one client address may make per minute.</summary>
    public int KeyAttemptsPerMinute { get; set; } = 30;

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
}
