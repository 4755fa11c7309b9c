namespace Detach.Vault.Storage;

/// <summary>Where the Kubo (or js-ipfs) RPC API is and how long calls may take.</summary>
public sealed class KuboOptions
{
    /// <summary>The RPC API root, e.g. <c>http://ipfs:5001</c> (no <c>/api/v0</c>).</summary>
    public Uri ApiUrl { get; set; } = new("http://127.0.0.1:5001");

    /// <summary>
    /// Deadline of small calls (id, pin, block stat) and of the wait for a block: also sent as the
    /// API's <c>timeout=</c>, so a missing block fails instead of hanging. For streams it is the
    /// longest wait for the response headers and for each read.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of a whole transfer (add, cat, dag import) on the node and here.</summary>
    public TimeSpan TransferTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Retries of idempotent calls after the node was unreachable (0 = none).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First retry delay; later ones grow exponentially, with jitter.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Value of the Authorization header (Kubo's <c>API.Authorizations</c>, e.g. <c>Bearer …</c>), or
    /// null. A secret: it is never logged.
    /// </summary>
    public string? Authorization { get; set; }

    /// <summary>
    /// Send <c>pin-name</c> with add (Kubo 0.26+). Nodes that do not know it ignore it (js-ipfs
    /// strips unknown options); turn it off for a node that rejects it.
    /// </summary>
    public bool SendPinName { get; set; } = true;
}
