namespace Detach.Vault.Index;

/// <summary>A notice owed to a sender: their attachment <see cref="FileName"/> was downloaded for the first time.</summary>
public sealed record SenderNotice(long Id, string Cid, string Recipient, string FileName, string MessageId, DateTimeOffset DownloadedAt, int Attempts);

/// <summary>
/// The outbox of first-download notices, in the index's own database so that "the first time" is decided by one
/// transaction however many instances serve downloads. Queuing moves the sender's address from the attachment to the
/// queue (the record then has none: no later download queues another); a notice leaves the queue, address included,
/// once sent or given up. Senders lease notices rather than take them: a process that dies mid-send leaves its
/// lease to run out, and another picks the notice up (at least once; a crash between the relay's acceptance and
/// the removal sends it twice).
/// </summary>
public interface ISenderNoticeQueue
{
    /// <summary>
    /// Queues the notice for <paramref name="cid"/> if its sender asked for one and none was queued yet; true when this
    /// call queued it. Atomic across instances: of concurrent calls for one CID exactly one returns true.
    /// </summary>
    Task<bool> QueueFirstDownloadNoticeAsync(string cid, DateTimeOffset downloadedAt, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="limit"/> notices due at <paramref name="now"/>, each leased to the caller until
    /// <paramref name="leaseUntil"/> (not due for anyone before) and its attempt counted. Oldest first.
    /// </summary>
    Task<IReadOnlyList<SenderNotice>> LeaseDueNoticesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken = default);

    /// <summary>The notice was sent, or will never be: it is removed with its address.</summary>
    Task RemoveNoticeAsync(long id, CancellationToken cancellationToken = default);

    /// <summary>Sending failed for now: due again at <paramref name="retryAt"/>, with why it failed.</summary>
    Task PostponeNoticeAsync(long id, DateTimeOffset retryAt, string error, CancellationToken cancellationToken = default);
}
