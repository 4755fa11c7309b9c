using Detach.Vault.Storage;

namespace Detach.Gateway.Configuration;

public enum StoreKind
{
    /// <summary>The embedded store under the data folder: same CIDs as IPFS, no external service.</summary>
    Local,

    /// <summary>A Kubo node (or anything serving its RPC API) at IpfsApiUrl.</summary>
    Ipfs,
}

/// <summary>Storage and retention (section "Vault").</summary>
public sealed class VaultOptions
{
    /// <summary>Local or Ipfs; when unset, Ipfs if IpfsApiUrl is set, else Local.</summary>
    public StoreKind? Store { get; set; }

    /// <summary>The Kubo RPC API, e.g. http://127.0.0.1:5001.</summary>
    public string? IpfsApiUrl { get; set; }

    public NodeDownBehavior WhenNodeDown { get; set; } = NodeDownBehavior.Spool;

    /// <summary>Days a link stays valid; at expiry the vault key is erased and the CID unpinned.</summary>
    public int RetentionDays { get; set; } = 30;

    /// <summary>Per sender domain, days that override RetentionDays (e.g. "Vault:RetentionDaysBySenderDomain:example.com": 7).</summary>
    public Dictionary<string, int> RetentionDaysBySenderDomain { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Seconds for one RPC call to the node (a missing block would otherwise make cat hang forever).</summary>
    public int IpfsTimeoutSeconds { get; set; } = 60;

    /// <summary>How often expiry, spool push and orphan collection run, in seconds.</summary>
    public int MaintenanceIntervalSeconds { get; set; } = 300;

    public StoreKind EffectiveStore => Store ?? (string.IsNullOrWhiteSpace(IpfsApiUrl) ? StoreKind.Local : StoreKind.Ipfs);

    public IEnumerable<string> Validate()
    {
        if (EffectiveStore == StoreKind.Ipfs
            && (!Uri.TryCreate(IpfsApiUrl, UriKind.Absolute, out var api) || (api.Scheme != "http" && api.Scheme != "https")))
        {
            yield return $"Vault:IpfsApiUrl must be the node's RPC API as an http URL such as http://127.0.0.1:5001 when Vault:Store is Ipfs, not '{IpfsApiUrl}'.";
        }

        if (RetentionDays < 1 || RetentionDays > 3650)
        {
            yield return $"Vault:RetentionDays must be between 1 and 3650, not {RetentionDays}.";
        }

        foreach (var (domain, days) in RetentionDaysBySenderDomain)
        {
            if (days < 1 || days > 3650)
            {
                yield return $"Vault:RetentionDaysBySenderDomain:{domain} must be between 1 and 3650 days, not {days}.";
            }
        }

        if (IpfsTimeoutSeconds < 1)
        {
            yield return "Vault:IpfsTimeoutSeconds must be at least 1.";
        }

        if (MaintenanceIntervalSeconds < 1)
        {
            yield return "Vault:MaintenanceIntervalSeconds must be at least 1.";
        }
    }
}
