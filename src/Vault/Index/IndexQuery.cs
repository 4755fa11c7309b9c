namespace Detach.Vault.Index;

/// <summary>Which records a listing returns; the four non-<see cref="Any"/> values partition the index.</summary>
public enum AttachmentStatus
{
    Any,

    /// <summary>Key present and not past <see cref="AttachmentRecord.ExpiresAt"/>.</summary>
    Active,

    /// <summary>Shredded for a reason other than expiry.</summary>
    Revoked,

    /// <summary>Past <see cref="AttachmentRecord.ExpiresAt"/> (swept or not yet), or shredded with reason "expired".</summary>
    Expired,
}

/// <summary>
/// A page of <see cref="IAttachmentIndex.ListAsync"/>. Paging is by key set: pass the last <see cref="AttachmentRecord.Id"/>
/// of a page as <see cref="AfterId"/> to get the next one; a page shorter than <see cref="Limit"/> is the last.
/// </summary>
public sealed record IndexQuery
{
    public const int MaxLimit = 1000;

    public AttachmentStatus Status { get; init; } = AttachmentStatus.Any;

    /// <summary>Only the attachments of this Message-ID (exact match).</summary>
    public string? MessageId { get; init; }

    /// <summary>Only records in this state.</summary>
    public StoreState? StoreState { get; init; }

    /// <summary>Start after this id, in listing order (ids below it when <see cref="NewestFirst"/>).</summary>
    public long? AfterId { get; init; }

    /// <summary>Page size, 1 to <see cref="MaxLimit"/>.</summary>
    public int Limit { get; init; } = 100;

    /// <summary>Order by id descending instead of ascending.</summary>
    public bool NewestFirst { get; init; }
}
