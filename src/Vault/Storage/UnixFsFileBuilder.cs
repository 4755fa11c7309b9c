namespace Detach.Vault.Storage;

/// <summary>
/// Builds the UnixFS file DAG that Kubo and js-ipfs build for
/// <c>add --cid-version=1 --raw-leaves --chunker=size-262144</c> (balanced layout), one chunk at a
/// time, so a file of any size needs at most <see cref="MaxLinks"/> links per tree level in memory.
/// Leaves are raw blocks (the chunk bytes); each full group of 174 children becomes a dag-pb node;
/// a file of one chunk is that raw leaf alone.
/// </summary>
internal sealed class UnixFsFileBuilder
{
    public const int ChunkSize = 262_144;
    public const int MaxLinks = 174;

    /// <summary>levels[k] holds the pending children at height k (0 = leaves).</summary>
    private readonly List<List<DagLink>> _levels = [];
    private bool _completed;

    public long FileSize { get; private set; }

    /// <summary>
    /// Adds the next chunk (exactly <see cref="ChunkSize"/> bytes except for the last) and returns
    /// its raw-leaf CID; dag-pb nodes completed by it are appended to <paramref name="completedNodes"/>.
    /// </summary>
    public Cid AddChunk(ReadOnlySpan<byte> chunk, List<DagPbBlock>? completedNodes = null)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The file is already complete.");
        }
        if (chunk.Length > ChunkSize)
        {
            throw new ArgumentException("A chunk is at most 256 KiB.", nameof(chunk));
        }
        var cid = Cid.Compute(Cid.RawCodec, chunk);
        FileSize += chunk.Length;
        Push(0, new DagLink(cid, chunk.Length, chunk.Length), completedNodes);
        return cid;
    }

    /// <summary>Closes the DAG and returns the root; nodes made now are appended to <paramref name="completedNodes"/>.</summary>
    public Cid Complete(List<DagPbBlock>? completedNodes = null)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The file is already complete.");
        }
        if (_levels.Count == 0)
        {
            // An empty file is one empty raw leaf, as both implementations make it.
            AddChunk([], completedNodes);
        }
        _completed = true;
        for (var height = 0; ; height++)
        {
            var level = _levels[height];
            var isTop = height == _levels.Count - 1;
            if (isTop && level.Count == 1)
            {
                return level[0].Cid;
            }
            if (level.Count > 0)
            {
                Reduce(height, completedNodes);
            }
        }
    }

    private void Push(int height, DagLink link, List<DagPbBlock>? completedNodes)
    {
        if (_levels.Count == height)
        {
            _levels.Add(new List<DagLink>(MaxLinks));
        }
        var level = _levels[height];
        level.Add(link);
        if (level.Count == MaxLinks)
        {
            Reduce(height, completedNodes);
        }
    }

    private void Reduce(int height, List<DagPbBlock>? completedNodes)
    {
        var level = _levels[height];
        var block = DagPbEncoder.EncodeFileNode(level);
        long tsize = block.Length, fileSize = 0;
        foreach (var child in level)
        {
            tsize += child.TreeSize;
            fileSize += child.FileSize;
        }
        var cid = Cid.Compute(Cid.DagPbCodec, block);
        level.Clear();
        completedNodes?.Add(new DagPbBlock(cid, block));
        Push(height + 1, new DagLink(cid, tsize, fileSize), completedNodes);
    }
}

/// <summary>A child link: its CID, cumulative DAG size (the dag-pb Tsize) and file bytes below it.</summary>
internal readonly record struct DagLink(Cid Cid, long TreeSize, long FileSize);

/// <summary>An encoded dag-pb block and its CID.</summary>
internal sealed record DagPbBlock(Cid Cid, byte[] Data);

/// <summary>
/// The protobuf encodings of dag-pb (PBNode: Links = 2 written before Data = 1, as dag-pb's
/// canonical form requires; PBLink: Hash = 1, Name = 2, Tsize = 3) and of UnixFS Data
/// (Type = 1, filesize = 3, blocksizes = 4 unpacked) for an internal file node.
/// </summary>
internal static class DagPbEncoder
{
    private const int UnixFsTypeFile = 2;

    public static byte[] EncodeFileNode(IReadOnlyList<DagLink> links)
    {
        long fileSize = 0;
        var dataLength = Tagged(1, UnixFsTypeFile);
        foreach (var link in links)
        {
            fileSize += link.FileSize;
            dataLength += Tagged(4, (ulong)link.FileSize);
        }
        dataLength += Tagged(3, (ulong)fileSize);

        var length = 0;
        foreach (var link in links)
        {
            length += LengthDelimited(2, LinkLength(link));
        }
        length += LengthDelimited(1, dataLength);

        var buffer = new byte[length];
        var span = buffer.AsSpan();
        var p = 0;
        foreach (var link in links)
        {
            p += WriteKey(span[p..], 2, 2);
            p += Varint.Write((ulong)LinkLength(link), span[p..]);
            var cid = link.Cid.AsSpan();
            p += WriteKey(span[p..], 1, 2);
            p += Varint.Write((ulong)cid.Length, span[p..]);
            cid.CopyTo(span[p..]);
            p += cid.Length;
            // Both implementations write the empty name rather than omitting it.
            p += WriteKey(span[p..], 2, 2);
            p += Varint.Write(0, span[p..]);
            p += WriteKey(span[p..], 3, 0);
            p += Varint.Write((ulong)link.TreeSize, span[p..]);
        }
        p += WriteKey(span[p..], 1, 2);
        p += Varint.Write((ulong)dataLength, span[p..]);
        p += WriteKey(span[p..], 1, 0);
        p += Varint.Write(UnixFsTypeFile, span[p..]);
        p += WriteKey(span[p..], 3, 0);
        p += Varint.Write((ulong)fileSize, span[p..]);
        foreach (var link in links)
        {
            p += WriteKey(span[p..], 4, 0);
            p += Varint.Write((ulong)link.FileSize, span[p..]);
        }
        return p == length ? buffer : throw new InvalidOperationException("dag-pb length mismatch.");
    }

    private static int LinkLength(DagLink link) =>
        LengthDelimited(1, link.Cid.AsSpan().Length) + LengthDelimited(2, 0) + Tagged(3, (ulong)link.TreeSize);

    private static int Tagged(int field, ulong value) => Varint.GetLength((ulong)(field << 3)) + Varint.GetLength(value);

    private static int LengthDelimited(int field, int length) =>
        Varint.GetLength((ulong)(field << 3)) + Varint.GetLength((ulong)length) + length;

    private static int WriteKey(Span<byte> destination, int field, int wireType) =>
        Varint.Write((ulong)((field << 3) | wireType), destination);
}
