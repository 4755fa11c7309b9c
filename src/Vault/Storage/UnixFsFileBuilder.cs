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
        var block = DagPbCodec.EncodeFileNode(level);
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
internal static class DagPbCodec
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

    /// <summary>The UnixFS <c>filesize</c> of a dag-pb file node (PBNode.Data → Data.filesize).</summary>
    public static long ReadFileSize(ReadOnlySpan<byte> node)
    {
        var data = FindField(node, 1) ?? throw new InvalidDataException("The dag-pb node has no UnixFS data.");
        var sizeField = FindVarintField(node.Slice(data.Offset, data.Length), 3);
        return sizeField is { } size && size <= long.MaxValue
            ? (long)size
            : throw new InvalidDataException("The UnixFS node has no filesize.");
    }

    private static (int Offset, int Length)? FindField(ReadOnlySpan<byte> message, int field)
    {
        var p = 0;
        while (p < message.Length)
        {
            var (key, wire) = ReadKey(message, ref p);
            if (wire == 2)
            {
                var length = (int)ReadVarint(message, ref p);
                if (length < 0 || length > message.Length - p)
                {
                    throw new InvalidDataException("Truncated protobuf field.");
                }
                if (key == field)
                {
                    return (p, length);
                }
                p += length;
            }
            else
            {
                SkipScalar(message, wire, ref p);
            }
        }
        return null;
    }

    private static ulong? FindVarintField(ReadOnlySpan<byte> message, int field)
    {
        var p = 0;
        while (p < message.Length)
        {
            var (key, wire) = ReadKey(message, ref p);
            if (wire == 0)
            {
                var value = ReadVarint(message, ref p);
                if (key == field)
                {
                    return value;
                }
            }
            else if (wire == 2)
            {
                var length = (int)ReadVarint(message, ref p);
                if (length < 0 || length > message.Length - p)
                {
                    throw new InvalidDataException("Truncated protobuf field.");
                }
                p += length;
            }
            else
            {
                SkipScalar(message, wire, ref p);
            }
        }
        return null;
    }

    private static (int Field, int Wire) ReadKey(ReadOnlySpan<byte> message, ref int p)
    {
        var key = ReadVarint(message, ref p);
        return ((int)(key >> 3), (int)(key & 7));
    }

    private static void SkipScalar(ReadOnlySpan<byte> message, int wire, ref int p)
    {
        p += wire switch
        {
            0 => 0,
            1 => 8,
            5 => 4,
            _ => throw new InvalidDataException($"Unsupported protobuf wire type {wire}."),
        };
        if (wire == 0)
        {
            ReadVarint(message, ref p);
        }
        if (p > message.Length)
        {
            throw new InvalidDataException("Truncated protobuf field.");
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> message, ref int p)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (p >= message.Length)
            {
                throw new InvalidDataException("Truncated protobuf varint.");
            }
            var b = message[p++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
        throw new InvalidDataException("Protobuf varint too long.");
    }

    private static int LinkLength(DagLink link) =>
        LengthDelimited(1, link.Cid.AsSpan().Length) + LengthDelimited(2, 0) + Tagged(3, (ulong)link.TreeSize);

    private static int Tagged(int field, ulong value) => Varint.GetLength((ulong)(field << 3)) + Varint.GetLength(value);

    private static int LengthDelimited(int field, int length) =>
        Varint.GetLength((ulong)(field << 3)) + Varint.GetLength((ulong)length) + length;

    private static int WriteKey(Span<byte> destination, int field, int wireType) =>
        Varint.Write((ulong)((field << 3) | wireType), destination);
}
