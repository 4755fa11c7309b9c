using Detach.Gateway.Configuration;
using MimeKit;

namespace Detach.Gateway.Notify;

/// <summary>
/// How first-download notices leave (section "Notify"). Whether senders get them at all is Gateway:NotifySender and
/// Gateway:NotifySenderBySenderDomain.
/// </summary>
public sealed class NotifyOptions
{
    /// <summary>Where notices are handed over, in Smtp:NextHop's forms; empty: the next hop, or the Maildir when there is none.</summary>
    public string? Relay { get; set; }

    /// <summary>The notices' From: address; empty: noreply at the host of PublicUrl (at Smtp:ServerName if that is an IP address).</summary>
    public string? From { get; set; }

    /// <summary>Seconds before the first retry when the relay is down or defers; doubled at each retry up to an hour.</summary>
    public int FirstRetrySeconds { get; set; } = 60;

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Relay) && !NextHopAddress.TryParse(Relay, out _, out var error))
        {
            yield return $"Notify:Relay {error}";
        }

        if (!string.IsNullOrWhiteSpace(From) && (!MailboxAddress.TryParse(From, out var from) || !from.Address.Contains('@', StringComparison.Ordinal)))
        {
            yield return $"Notify:From must be a mail address such as \"Detach <noreply@files.example.com>\", not '{From}'.";
        }

        if (FirstRetrySeconds is < 1 or > 3600)
        {
            yield return "Notify:FirstRetrySeconds must be between 1 and 3600.";
        }
    }

    /// <summary>The From: mailbox of a notice.</summary>
    public MailboxAddress FromMailbox(string publicUrl, string serverName)
    {
        if (!string.IsNullOrWhiteSpace(From))
        {
            return MailboxAddress.Parse(From);
        }

        var host = new Uri(publicUrl).IdnHost;
        return new MailboxAddress("Detach", "noreply@" + (Uri.CheckHostName(host) == UriHostNameType.Dns ? host : serverName));
    }
}
