using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Vault.Storage;

/// <summary>What <see cref="SpoolingContentStore"/> does when the node cannot take an attachment.</summary>
public enum NodeDownBehavior
{
    /// <summary>Keep the bytes in the local spool under the same CID; <see cref="SpoolPusher"/> moves them later.</summary>
    Spool,

    /// <summary>Throw <see cref="StorageUnavailableException"/>, so SMTP answers 4xx and the sender retries.</summary>
    TempFail,
}

/// <summary>
/// Puts the node first and never loses an attachment: every byte sent to the node is also written
/// to a spool file, so when the node fails (even mid-upload) the rest of the content is read into
/// the spool, which is fsync'd and published under the CID the node would have given. The add then
/// succeeds, durable locally, and <see cref="SpoolPusher"/> pushes the spool to the node later.
/// Reads look in the spool first, then on the node.
/// </summary>
public sealed class SpoolingContentStore : IContentStore
{
    private readonly IContentStore _node;
    private readonly LocalContentStore _spool;
    private readonly NodeDownBehavior _whenNodeDown;
    private readonly ILogger _logger;
    private readonly PendingUnpins? _pendingUnpins;

    /// <param name="pendingUnpins">Where an unpin that finds the node down is kept for <see cref="SpoolPusher"/>; null: it throws.</param>
    public SpoolingContentStore(
        IContentStore node, LocalContentStore spool, NodeDownBehavior whenNodeDown, ILogger<SpoolingContentStore>? logger = null, PendingUnpins? pendingUnpins = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(spool);
        _node = node;
        _spool = spool;
        _whenNodeDown = whenNodeDown;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _pendingUnpins = pendingUnpins;
    }

    public async Task<StoredContent> AddAsync(Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (_whenNodeDown == NodeDownBehavior.TempFail)
        {
            return await _node.AddAsync(content, ct).ConfigureAwait(false);
        }
        await using var spool = _spool.BeginWrite();
        using var tee = new TeeReadStream(content, spool);
        try
        {
            // On success the spool copy is discarded unsynced: the node holds the pinned bytes.
            return await _node.AddAsync(tee, ct).ConfigureAwait(false);
        }
        catch (StorageUnavailableException e)
        {
            await tee.DrainAsync(ct).ConfigureAwait(false);
            var spooled = await spool.CommitAsync(ct).ConfigureAwait(false);
            _logger.LogWarning("IPFS node unavailable ({Error}); spooled {Cid} ({Size} bytes) locally", e.Message, spooled.Cid, spooled.Size);
            return spooled;
        }
    }

    public async Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken ct)
    {
        try
        {
            return await _spool.OpenReadAsync(cid, offset, length, ct).ConfigureAwait(false);
        }
        catch (ContentNotFoundException)
        {
            return await _node.OpenReadAsync(cid, offset, length, ct).ConfigureAwait(false);
        }
    }

    public async Task<long?> GetSizeAsync(Cid cid, CancellationToken ct) =>
        await _spool.GetSizeAsync(cid, ct).ConfigureAwait(false) ?? await _node.GetSizeAsync(cid, ct).ConfigureAwait(false);

    /// <summary>
    /// Deletes the spool copy, then unpins. When the node is down, the unpin is kept in the pending unpins (for the
    /// pusher to retry) if there are any, else <see cref="StorageUnavailableException"/> tells the caller.
    /// </summary>
    public async Task RemoveAsync(Cid cid, CancellationToken ct)
    {
        await _spool.RemoveAsync(cid, ct).ConfigureAwait(false);
        try
        {
            await _node.RemoveAsync(cid, ct).ConfigureAwait(false);
        }
        catch (StorageUnavailableException e) when (_pendingUnpins is not null)
        {
            _pendingUnpins.Add(cid);
            _logger.LogWarning("IPFS node unavailable ({Error}); unpin of {Cid} kept until it is back", e.Message, cid);
        }
    }

    public async Task<bool> IsAvailableAsync(CancellationToken ct) =>
        _whenNodeDown == NodeDownBehavior.Spool
            ? await _spool.IsAvailableAsync(ct).ConfigureAwait(false)
            : await _node.IsAvailableAsync(ct).ConfigureAwait(false);

    /// <summary>
    /// Copies every byte read from the source into the spool writer, in order. HttpClient may still
    /// be reading (its send task outlives a failed SendAsync), so reads are serialised and, once
    /// <see cref="DrainAsync"/> has taken over, the HTTP side gets no more bytes.
    /// </summary>
    private sealed class TeeReadStream(Stream source, LocalContentWriter copy) : Stream
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _drained;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => copy.Length;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_drained)
                {
                    throw new IOException("The upload was abandoned; the content went to the spool.");
                }
                return await CopyNextAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>Reads what the node did not take into the spool.</summary>
        public async Task DrainAsync(CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            _drained = true;
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
            try
            {
                while (await CopyNextAsync(buffer.AsMemory(0, UnixFsFileBuilder.ChunkSize), ct).ConfigureAwait(false) > 0)
                {
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                _gate.Release();
            }
        }

        private async ValueTask<int> CopyNextAsync(Memory<byte> buffer, CancellationToken ct)
        {
            var n = await source.ReadAsync(buffer, ct).ConfigureAwait(false);
            await copy.WriteAsync(buffer[..n], ct).ConfigureAwait(false);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _gate.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
