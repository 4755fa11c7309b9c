using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>An attachment whose link key was proved: its record and the full key. Dispose to zero the key.</summary>
public sealed class UnlockedAttachment(AttachmentRecord record, Cid cid, FileKey key) : IDisposable
{
    public AttachmentRecord Record { get; } = record;

    public Cid Cid { get; } = cid;

    public FileKey Key { get; } = key;

    public void Dispose() => Key.Dispose();
}

/// <summary>
/// Decides what a request for a CID gets: 404 for an unknown CID, 410 once the vault key is gone (or the
/// expiry or download limit passed), 403 for a key that does not authenticate the file's first record,
/// 503 when the store cannot be read. Checking a key costs the same work whether it is right or wrong:
/// one index lookup, one key derivation, one record's MAC.
/// </summary>
public sealed partial class AttachmentUnlocker(
    IAttachmentIndex index,
    IContentStore store,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<AttachmentUnlocker> logger)
{
    /// <summary>The record for a CID that may still be downloaded, or the problem to answer with.</summary>
    public async Task<(AttachmentRecord? Record, Cid Cid, GatewayProblem? Problem)> FindAsync(string cidText, CancellationToken cancellationToken)
    {
        if (!Cid.TryParse(cidText, out var cid))
        {
            return (null, default, GatewayProblem.NotFound());
        }

        var record = await index.FindByCidAsync(cid.ToString(), cancellationToken).ConfigureAwait(false);
        if (record is null || record.StoreState == StoreState.Orphaned)
        {
            return (null, cid, GatewayProblem.NotFound());
        }

        var now = time.GetUtcNow();
        if (record.RevokedAt is { } revokedAt)
        {
            return (null, cid, string.Equals(record.RevokedReason, RevocationReasons.Expired, StringComparison.Ordinal)
                ? GatewayProblem.Expired(record.ExpiresAt <= revokedAt ? record.ExpiresAt : revokedAt, record.SenderDomain)
                : GatewayProblem.Revoked(revokedAt, record.SenderDomain));
        }

        if (record.VaultKey is null || record.ExpiresAt <= now)
        {
            return (null, cid, GatewayProblem.Expired(record.ExpiresAt, record.SenderDomain));
        }

        if (DownloadsLeft(record) is <= 0)
        {
            return (null, cid, GatewayProblem.DownloadLimitReached(record.SenderDomain));
        }

        return (record, cid, null);
    }

    /// <summary>Downloads still allowed, or null without a limit (the record's own, else Gateway:MaxDownloadsPerLink).</summary>
    public int? DownloadsLeft(AttachmentRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var limit = record.MaxDownloads ?? options.Value.MaxDownloadsPerLink;
        return limit is { } max ? Math.Max(0, max - record.Downloads) : null;
    }

    /// <summary>Proves <paramref name="linkKey"/> against the stored ciphertext; the caller disposes the result.</summary>
    public async Task<(UnlockedAttachment? Attachment, GatewayProblem? Problem)> UnlockAsync(
        AttachmentRecord record, Cid cid, ReadOnlyMemory<byte> linkKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (linkKey.Length != FileKey.KeySize || record.VaultKey is not { Length: FileKey.KeySize } vaultKey)
        {
            return (null, GatewayProblem.WrongKey());
        }

        var key = new FileKey(linkKey.Span, vaultKey);
        try
        {
            await AuthenticateFirstRecordAsync(cid, record.CiphertextSize, key, cancellationToken).ConfigureAwait(false);
            var unlocked = new UnlockedAttachment(record, cid, key);
            key = null;
            return (unlocked, null);
        }
        catch (RecordAuthenticationException)
        {
            // A wrong key, or a first record damaged in the store: the two cannot be told apart, and both mean "no".
            return (null, GatewayProblem.WrongKey());
        }
        catch (Exception exception) when (IsStorageFailure(exception))
        {
            LogStorageFailure(logger, record.Cid, exception.GetType().Name, exception);
            return (null, GatewayProblem.StorageUnavailable());
        }
        catch (InvalidDataException exception)
        {
            // The store holds fewer bytes than the index says: truncated, so treat it as unreadable.
            LogCorruptObject(logger, record.Cid, exception);
            return (null, GatewayProblem.StorageUnavailable());
        }
        finally
        {
            key?.Dispose();
        }
    }

    /// <summary>Opens exactly [offset, offset + length) of the object, as RecordDecryptor asks.</summary>
    public Func<long, long, CancellationToken, ValueTask<Stream>> RangeOpener(Cid cid) =>
        async (offset, length, cancellationToken) => await store.OpenReadAsync(cid, offset, length, cancellationToken).ConfigureAwait(false);

    public static bool IsStorageFailure(Exception exception) =>
        exception is StorageUnavailableException or ContentNotFoundException or HttpRequestException
            or IOException
            or TimeoutException
            or TaskCanceledException { InnerException: TimeoutException };

    private async Task AuthenticateFirstRecordAsync(Cid cid, long ciphertextSize, FileKey key, CancellationToken cancellationToken)
    {
        var plaintextSize = RecordFormat.GetPlaintextLength(ciphertextSize);
        if (plaintextSize == 0)
        {
            // An empty file is one empty record: the range API fetches nothing for zero bytes, so read it whole.
            var whole = await store.OpenReadAsync(cid, 0, ciphertextSize, cancellationToken).ConfigureAwait(false);
            await using (whole.ConfigureAwait(false))
            {
                await RecordDecryptor.DecryptAsync(whole, Stream.Null, key, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        await RecordDecryptor.DecryptRangeAsync(RangeOpener(cid), ciphertextSize, key, 0, Math.Min(plaintextSize, RecordFormat.RecordSize), Stream.Null, cancellationToken)
            .ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Store could not serve {Cid} ({Error})")]
    private static partial void LogStorageFailure(ILogger logger, string cid, string error, Exception exception);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "Stored object {Cid} is shorter than the index says")]
    private static partial void LogCorruptObject(ILogger logger, string cid, Exception exception);
}
