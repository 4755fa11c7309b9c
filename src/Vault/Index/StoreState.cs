namespace Detach.Vault.Index;

/// <summary>
/// Where an attachment's message stands. The vault stores objects before the message goes out, so a record is
/// live (<see cref="Stored"/>) from just before the final dot: once the dot is sent, whether the next hop kept the
/// message can be unknowable (connection lost, timeout, a crash of either side), and a copy it delivered must keep
/// working links.
/// </summary>
public enum StoreState
{
    /// <summary>Stored, the message not yet sent on: garbage if the process dies now (collected past the orphan age).</summary>
    Spooled,

    /// <summary>Committed: the message went out (or was about to), so the link may be in the world. Expires as usual, never collected as an orphan.</summary>
    Stored,

    /// <summary>The next hop refused the message with a reply, or it never went out: nobody has the link, the object is garbage.</summary>
    Orphaned,
}
