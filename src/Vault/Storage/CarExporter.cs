using System.Buffers;

namespace Detach.Vault.Storage;

/// <summary>
/// Writes a locally stored file as a CARv1 (varint-prefixed dag-cbor header {roots, version: 1},
/// then varint-prefixed CID + block pairs) of the exact blocks an IPFS node makes for it, so
/// <c>dag/import</c> gives the node the same CID and links made on the local store keep working.
/// The DAG is rebuilt from the file chunk by chunk (bounded memory); blocks come children first.
/// </summary>
public sealed class CarExporter(LocalContentStore store)
{
    /// <exception cref="ContentNotFoundException">The store does not hold <paramref name="cid"/>.</exception>
    /// <exception cref="InvalidDataException">The stored bytes no longer hash to <paramref name="cid"/>.</exception>
    public async Task WriteAsync(Cid cid, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        await using var file = await store.OpenReadAsync(cid, 0, null, cancellationToken).ConfigureAwait(false);
        await WriteHeaderAsync(cid, destination, cancellationToken).ConfigureAwait(false);
        var builder = new UnixFsFileBuilder();
        var nodes = new List<DagPbBlock>();
        var chunk = ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
        try
        {
            var first = true;
            int read;
            while ((read = await file.ReadAtLeastAsync(chunk.AsMemory(0, UnixFsFileBuilder.ChunkSize), UnixFsFileBuilder.ChunkSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)) > 0 || first)
            {
                first = false;
                var leaf = builder.AddChunk(chunk.AsSpan(0, read), nodes);
                await WriteBlockAsync(leaf, chunk.AsMemory(0, read), destination, cancellationToken).ConfigureAwait(false);
                await WriteNodesAsync(nodes, destination, cancellationToken).ConfigureAwait(false);
                if (read < UnixFsFileBuilder.ChunkSize)
                {
                    break;
                }
            }
            var root = builder.Complete(nodes);
            await WriteNodesAsync(nodes, destination, cancellationToken).ConfigureAwait(false);
            if (root != cid)
            {
                throw new InvalidDataException($"The local copy of {cid} is corrupt: its bytes hash to {root}.");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteNodesAsync(List<DagPbBlock> nodes, Stream destination, CancellationToken cancellationToken)
    {
        foreach (var node in nodes)
        {
            await WriteBlockAsync(node.Cid, node.Data, destination, cancellationToken).ConfigureAwait(false);
        }
        nodes.Clear();
    }

    private static async Task WriteHeaderAsync(Cid root, Stream destination, CancellationToken cancellationToken)
    {
        // dag-cbor, keys in canonical order (shorter first): {"roots": [tag 42: 0x00 ‖ cid], "version": 1}.
        var cid = root.AsSpan();
        var cbor = new List<byte> { 0xA2, 0x65 };
        cbor.AddRange("roots"u8.ToArray());
        cbor.AddRange([0x81, 0xD8, 0x2A, 0x58, (byte)(cid.Length + 1), 0x00]);
        cbor.AddRange(cid.ToArray());
        cbor.Add(0x67);
        cbor.AddRange("version"u8.ToArray());
        cbor.Add(0x01);
        var prefix = new byte[Varint.MaxLength];
        var n = Varint.Write((ulong)cbor.Count, prefix);
        await destination.WriteAsync(prefix.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        await destination.WriteAsync(cbor.ToArray(), cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteBlockAsync(Cid cid, ReadOnlyMemory<byte> data, Stream destination, CancellationToken cancellationToken)
    {
        var id = cid.AsSpan();
        var prefix = new byte[Varint.MaxLength + id.Length];
        var n = Varint.Write((ulong)(id.Length + data.Length), prefix);
        id.CopyTo(prefix.AsSpan(n));
        await destination.WriteAsync(prefix.AsMemory(0, n + id.Length), cancellationToken).ConfigureAwait(false);
        await destination.WriteAsync(data, cancellationToken).ConfigureAwait(false);
    }
}
