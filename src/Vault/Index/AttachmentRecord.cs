using System.Text;

namespace Detach.Vault.Index;

/// <summary>
/// One stored attachment as the index knows it. The object itself lives in the store under <see cref="Cid"/>;
/// its file name and type live only here (or inside the ciphertext), never in the store.
/// </summary>
public sealed record AttachmentRecord
{
    /// <summary>Length of <see cref="VaultKey"/>.</summary>
    public const int VaultKeyLength = 32;

    /// <summary>Assigned by the index on add; ignored by <see cref="IAttachmentIndex.AddAsync"/>.</summary>
    public long Id { get; init; }

    /// <summary>Canonical CIDv1 base32 text of the encrypted object ("bafkrei...").</summary>
    public required string Cid { get; init; }

    /// <summary>
    /// The vault's key share (32 bytes). A secret: masked by <see cref="ToString"/>; null once the record
    /// is revoked or expired (crypto-shredded).
    /// </summary>
    public byte[]? VaultKey { get; init; }

    public long PlaintextSize { get; init; }

    public long CiphertextSize { get; init; }

    public required string ContentType { get; init; }

    public required string FileName { get; init; }

    /// <summary>Stored as UTC with millisecond precision.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Stored as UTC with millisecond precision.</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Why the key was shredded: <see cref="RevocationReasons.Expired"/>, "revoked by admin", ...</summary>
    public string? RevokedReason { get; init; }

    public int Downloads { get; init; }

    /// <summary>Null means unlimited.</summary>
    public int? MaxDownloads { get; init; }

    public required string MessageId { get; init; }

    public required string SenderDomain { get; init; }

    public int RecipientCount { get; init; }

    public StoreState StoreState { get; init; } = StoreState.Spooled;

    /// <summary>
    /// The sender's address, kept only when the sender asked to hear of the first download (Gateway:NotifySender), and
    /// only until then: the first download moves it to the notice queue, a shred erases it. Null otherwise.
    /// </summary>
    public string? NotifyAddress { get; init; }

    /// <summary>What readers must be warned about (a scanner found a threat, or could not scan it); null for none.</summary>
    public string? Warning { get; init; }

    /// <summary>True when the key has been shredded (revoked or expired): the object can no longer be decrypted.</summary>
    public bool IsShredded => RevokedAt is not null;

    // The compiler-generated printer would show the key's array; this one names every member but masks the secret.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Id = ").Append(Id)
            .Append(", Cid = ").Append(Cid)
            .Append(", VaultKey = ").Append(VaultKey is null ? "(none)" : "***")
            .Append(", PlaintextSize = ").Append(PlaintextSize)
            .Append(", CiphertextSize = ").Append(CiphertextSize)
            .Append(", ContentType = ").Append(ContentType)
            .Append(", FileName = ").Append(FileName)
            .Append(", CreatedAt = ").Append(CreatedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", ExpiresAt = ").Append(ExpiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", RevokedAt = ").Append(RevokedAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", RevokedReason = ").Append(RevokedReason)
            .Append(", Downloads = ").Append(Downloads)
            .Append(", MaxDownloads = ").Append(MaxDownloads)
            .Append(", MessageId = ").Append(MessageId)
            .Append(", SenderDomain = ").Append(SenderDomain)
            .Append(", RecipientCount = ").Append(RecipientCount)
            .Append(", StoreState = ").Append(StoreState)
            .Append(", NotifyAddress = ").Append(NotifyAddress is null ? "(none)" : "(set)")
            .Append(", Warning = ").Append(Warning)
            .Append(", IsShredded = ").Append(IsShredded);
        return true;
    }
}
