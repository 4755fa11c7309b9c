namespace Detach.Vault.Index;

/// <summary>Where an attachment's mail stands: the vault stores objects before the mail is accepted downstream.</summary>
public enum StoreState
{
    /// <summary>The object is stored but the mail carrying its link is not yet accepted downstream.</summary>
    Spooled,

    /// <summary>The mail carrying the link was accepted: the link is out in the world.</summary>
    Stored,

    /// <summary>Stored, but the mail was never accepted: nobody has the link, the object is garbage.</summary>
    Orphaned,
}
