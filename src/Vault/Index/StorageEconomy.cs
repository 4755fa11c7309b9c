namespace Detach.Vault.Index;

/// <summary>
/// What storing each attachment once saved compared with a copy per recipient mailbox. Only delivered
/// attachments (<see cref="StoreState.Stored"/>) count as stored or saved; "live" ones also still have their key
/// and are not past expiry. Mailbox bytes are plaintext size × recipients (base64 inflation of about 4/3 in a
/// real mailbox is not counted, so the saving is understated).
/// </summary>
public sealed record StorageEconomy
{
    public long Messages { get; init; }

    public long Attachments { get; init; }

    /// <summary>Ciphertext bytes ever stored for delivered attachments.</summary>
    public long StoredBytes { get; init; }

    /// <summary>Plaintext bytes × recipients ever delivered.</summary>
    public long MailboxBytes { get; init; }

    public long LiveMessages { get; init; }

    public long LiveAttachments { get; init; }

    public long LiveStoredBytes { get; init; }

    public long LiveMailboxBytes { get; init; }

    /// <summary>Records whose key was shredded (revoked or expired), delivered or not.</summary>
    public long ShreddedAttachments { get; init; }

    public long OrphanedAttachments { get; init; }

    public long SpooledAttachments { get; init; }

    /// <summary>Mailbox bytes per stored byte, all time; 0 when nothing is stored.</summary>
    public double Ratio => StoredBytes == 0 ? 0 : (double)MailboxBytes / StoredBytes;

    /// <summary>Mailbox bytes per stored byte for live attachments; 0 when nothing is live.</summary>
    public double LiveRatio => LiveStoredBytes == 0 ? 0 : (double)LiveMailboxBytes / LiveStoredBytes;
}
