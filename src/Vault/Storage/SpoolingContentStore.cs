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
/// Reads look in the spool first, then on the node. After the node failed an add, <see cref="NodeCircuit"/> keeps
/// the next adds away from it for a while: they are spooled (or refused, with <see cref="NodeDownBehavior.TempFail"/>)
/// at once instead of each waiting for the node to fail again.
/// </summary>
public sealed class SpoolingContentStore : IContentStore
{
    private readonly IContentStore _node;
    private readonly LocalContentStore _spool;
    private readonly NodeDownBehavior _whenNodeDown;
    private readonly ILogger _logger;
    private readonly PendingUnpins? _pendingUnpins;
    private readonly NodeCircuit _circuit;

    /// <param name="pendingUnpins">Where an unpin that finds the node down is kept for <see cref="SpoolPusher"/>; null: it throws.</param>
    /// <param name="circuit">When to leave the node alone after a failure; null: a new one on the system clock.</param>
    public SpoolingContentStore(
        IContentStore node, LocalContentStore spool, NodeDownBehavior whenNodeDown, ILogger<SpoolingContentStore>? logger = null,
        PendingUnpins? pendingUnpins = null, NodeCircuit? circuit = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(spool);
        _node = node;
        _spool = spool;
        _whenNodeDown = whenNodeDown;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _pendingUnpins = pendingUnpins;
        _circuit = circuit ?? new NodeCircuit();
    }

    /// <summary>True while adds leave the node alone after a failure.</summary>
    public bool NodeSkipped => _circuit.IsOpen;

    public async Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var attempt = _circuit.TryBegin();
        if (attempt is null)
        {
            return await AddWithoutNodeAsync(content, cancellationToken).ConfigureAwait(false);
        }

        if (_whenNodeDown == NodeDownBehavior.TempFail)
        {
            try
            {
                var stored = await _node.AddAsync(content, cancellationToken).ConfigureAwait(false);
                Succeeded(attempt);
                return stored;
            }
            catch (StorageUnavailableException e)
            {
                Failed(attempt, e);
                throw;
            }
        }

        await using var spool = _spool.BeginWrite();
        using var tee = new TeeReadStream(content, spool);
        try
        {
            // On success the spool copy is discarded unsynced: the node holds the pinned bytes.
            var stored = await _node.AddAsync(tee, cancellationToken).ConfigureAwait(false);
            Succeeded(attempt);
            return stored;
        }
        catch (StorageUnavailableException e)
        {
            Failed(attempt, e);
            await tee.DrainAsync(cancellationToken).ConfigureAwait(false);
            var spooled = await spool.CommitAsync(cancellationToken).ConfigureAwait(false);
            _logger.LogWarning("IPFS node unavailable ({Error}); spooled {Cid} ({Size} bytes) locally", e.Message, spooled.Cid, spooled.Size);
            return spooled;
        }
    }

    /// <summary>An add while the node is left alone: into the spool, or refused at once.</summary>
    private async Task<StoredContent> AddWithoutNodeAsync(Stream content, CancellationToken cancellationToken)
    {
        if (_whenNodeDown == NodeDownBehavior.TempFail)
        {
            throw new StorageUnavailableException($"The IPFS node failed an add; it is tried again from {_circuit.RetryAt:u}.");
        }

        var spooled = await _spool.AddAsync(content, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("IPFS node left alone until {RetryAt:u} after a failure; spooled {Cid} ({Size} bytes) locally",
            _circuit.RetryAt, spooled.Cid, spooled.Size);
        return spooled;
    }

    private void Succeeded(NodeAttempt attempt)
    {
        if (attempt.Succeeded())
        {
            _logger.LogInformation("IPFS node takes attachments again");
        }
    }

    private void Failed(NodeAttempt attempt, StorageUnavailableException e)
    {
        if (attempt.Failed() is { } pause)
        {
            _logger.LogWarning("IPFS node failed an add ({Error}); adds leave it alone for {Pause:g}", e.Message, pause);
        }
    }

    public async Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken)
    {
        try
        {
            return await _spool.OpenReadAsync(cid, offset, length, cancellationToken).ConfigureAwait(false);
        }
        catch (ContentNotFoundException)
        {
            return await _node.OpenReadAsync(cid, offset, length, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) =>
        await _spool.GetSizeAsync(cid, cancellationToken).ConfigureAwait(false) ?? await _node.GetSizeAsync(cid, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Deletes the spool copy, then unpins. When the node is down, the unpin is kept in the pending unpins (for the
    /// pusher to retry) if there are any, else <see cref="StorageUnavailableException"/> tells the caller.
    /// </summary>
    public async Task RemoveAsync(Cid cid, CancellationToken cancellationToken)
    {
        await _spool.RemoveAsync(cid, cancellationToken).ConfigureAwait(false);
        try
        {
            await _node.RemoveAsync(cid, cancellationToken).ConfigureAwait(false);
        }
        catch (StorageUnavailableException e) when (_pendingUnpins is not null)
        {
            _pendingUnpins.Add(cid);
            _logger.LogWarning("IPFS node unavailable ({Error}); unpin of {Cid} kept until it is back", e.Message, cid);
        }
    }

    public async Task<bool> IsAvailableAsync(CancellationToken cancellationToken) =>
        _whenNodeDown == NodeDownBehavior.Spool
            ? await _spool.IsAvailableAsync(cancellationToken).ConfigureAwait(false)
            : await _node.IsAvailableAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Copies every byte read from the source into the spool writer, in order. HttpClient may still
    /// be reading (its send task outlives a failed SendAsync), so reads are serialised and, once
    /// <see cref="DrainAsync"/> has taken over, the HTTP side gets no more bytes.
    /// </summary>
    private sealed class TeeReadStream(Stream source, LocalContentWriter copy) : ReadOnlyStream
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _drained;

        public override long Position => copy.Length;

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

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
        public async Task DrainAsync(CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            _drained = true;
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
            try
            {
                while (await CopyNextAsync(buffer.AsMemory(0, UnixFsFileBuilder.ChunkSize), cancellationToken).ConfigureAwait(false) > 0)
                {
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                _gate.Release();
            }
        }

        private async ValueTask<int> CopyNextAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(buffer[..n], cancellationToken).ConfigureAwait(false);
            return n;
        }

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
