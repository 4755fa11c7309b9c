namespace Detach.Vault.Index;

/// <summary>
/// The index of stored attachments: what is stored, for whom, until when, and the vault's key share.
/// Revoking or expiring a record crypto-shreds it: the key column is overwritten with NULL, after which the
/// object in the store can no longer be decrypted by anyone. Implementations are safe for concurrent use.
/// </summary>
public interface IAttachmentIndex : IAsyncDisposable
{
    /// <summary>Creates or upgrades the schema; safe to run on every start and from several instances at once.</summary>
    Task MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>Adds one record and returns its id. The key must be 32 bytes; <see cref="AttachmentRecord.Id"/> is ignored.</summary>
    /// <exception cref="System.Data.Common.DbException">The CID is already indexed.</exception>
    Task<long> AddAsync(AttachmentRecord record, CancellationToken cancellationToken = default);

    /// <summary>Adds a message's records in one transaction (all or none); returns their ids in order.</summary>
    Task<IReadOnlyList<long>> AddBatchAsync(IReadOnlyList<AttachmentRecord> records, CancellationToken cancellationToken = default);

    Task<AttachmentRecord?> FindByCidAsync(string cid, CancellationToken cancellationToken = default);

    /// <summary>The attachments of one message, in the order they were added.</summary>
    Task<IReadOnlyList<AttachmentRecord>> FindByMessageIdAsync(string messageId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Counts one download atomically. False (and nothing counted) when the CID is unknown, shredded, past expiry,
    /// orphaned, or already at its limit: <see cref="AttachmentRecord.MaxDownloads"/>, or <paramref name="limit"/> when
    /// the record has none (null: no limit).
    /// </summary>
    Task<bool> TryCountDownloadAsync(string cid, int? limit, CancellationToken cancellationToken = default);

    /// <summary>Takes back one counted download that did not complete (never below zero).</summary>
    Task UncountDownloadAsync(string cid, CancellationToken cancellationToken = default);

    /// <summary>
    /// Shreds the record with this CID, or every record of this Message-ID: sets RevokedAt/RevokedReason and
    /// overwrites the key with NULL. Returns the records shredded by this call (already shredded ones are not
    /// returned again); the caller unpins their objects.
    /// </summary>
    Task<IReadOnlyList<AttachmentRecord>> RevokeAsync(string cidOrMessageId, string reason, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>
    /// Shreds records past <see cref="AttachmentRecord.ExpiresAt"/> with reason "expired" and returns them, at most
    /// <see cref="IndexQuery.MaxLimit"/> per call (bounded memory): call again while the result is that long.
    /// </summary>
    Task<IReadOnlyList<AttachmentRecord>> ExpireAsync(DateTimeOffset now, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<AttachmentRecord>> ListAsync(IndexQuery query, CancellationToken cancellationToken = default);

    /// <summary>Aggregates over the whole index (one table scan): meant for an admin page or a metrics scrape, not per request.</summary>
    Task<StorageEconomy> GetEconomyAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets the store state of every listed record that is not shredded, in one statement (one round trip for a
    /// whole message), and returns how many it set. A shredded or unknown CID is not counted: a commit that sets
    /// fewer than it listed lost a record to a concurrent sweep.
    /// </summary>
    Task<int> MarkAsync(IReadOnlyCollection<string> cids, StoreState state, CancellationToken cancellationToken = default);

    /// <summary>
    /// Shreds (reason "orphaned") unshredded records created before <paramref name="olderThan"/> whose message never
    /// went out: state <see cref="StoreState.Orphaned"/>, or still <see cref="StoreState.Spooled"/> (the process died
    /// before sending it). Never a <see cref="StoreState.Stored"/> one, even if it became so while this ran. Returns
    /// the records shredded by this call, at most <see cref="IndexQuery.MaxLimit"/>, oldest first: call again while
    /// the result is that long. The caller unpins their objects.
    /// </summary>
    Task<IReadOnlyList<AttachmentRecord>> ShredOrphansAsync(DateTimeOffset olderThan, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records what readers of the attachment must be warned about (a scanner found a threat in it, or could not scan
    /// it); the download page shows it. At most 200 characters are kept.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No record has this CID.</exception>
    Task SetWarningAsync(string cid, string warning, CancellationToken cancellationToken = default);

    /// <summary>True when the index answers a query; never throws except for cancellation.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken = default);
}
