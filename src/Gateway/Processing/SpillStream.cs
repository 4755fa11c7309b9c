using System.Buffers;
using Detach.Mime;
using Detach.Vault;

namespace Detach.Gateway.Processing;

/// <summary>
/// A seekable read/write spool for one message that stays in pooled memory up to a threshold and moves to a
/// private temporary file (<see cref="SpoolFile"/>, deleted on close) once it grows past it, or once the host's
/// <see cref="SpillBudget"/> is spent. Creating and deleting two files per message was most of the proxy's cost
/// for small mail (ext4 inode work, fsnotify, flock); large mail still never sits in memory.
/// </summary>
/// <remarks>
/// File I/O is synchronous: on Linux an "asynchronous" file only runs the same syscall on a thread-pool thread.
/// The async methods still never touch the disk on the caller's thread unless it is a pool thread: the SMTP front
/// writes into the spool on the socket event thread, which serves every session, and a disk under pressure
/// must stall one session, not all (<see cref="ThreadPoolHop"/>). Work in memory stays where it is.
/// </remarks>
public sealed class SpillStream : Stream, IPositionalRead
{
    /// <summary>
    /// 2 MiB: nearly all mail without attachments, and mail with up to about 1.4 MiB of attachments (base64 adds a
    /// third), never touches the disk; the host's <see cref="SpillBudget"/> still caps what all spools hold at once.
    /// </summary>
    public const int DefaultThreshold = 2 * 1024 * 1024;

    /// <summary>Memory is rented in pieces of this size, so a 5 KB message holds 16 KiB, not the threshold.</summary>
    public const int SegmentSize = 16 * 1024;

    private readonly string _dataPath;
    private readonly long _threshold;
    private readonly SpillBudget? _budget;
    private List<byte[]>? _segments = [];
    private FileStream? _file;
    private long _length;
    private long _position;
    private bool _disposed;

    /// <param name="dataPath">{DataPath}: the temporary file, when needed, goes to its tmp folder.</param>
    /// <param name="threshold">Bytes held in memory at most; one more and the spool moves to disk.</param>
    /// <param name="budget">Memory shared by all spools of the host; null for no shared limit.</param>
    public SpillStream(string dataPath, long threshold = DefaultThreshold, SpillBudget? budget = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataPath);
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        this._dataPath = dataPath;
        this._threshold = threshold;
        this._budget = budget;
    }

    /// <summary>True once the content lives in a temporary file.</summary>
    public bool IsSpilled => _file is not null;

    /// <summary>Called before each piece of disk work (tests watch which thread does it).</summary>
    internal Action? OnDiskWork { get; set; }

    /// <summary>Disk work never runs on the socket event thread: the tests' guard says so loudly, the hook counts it.</summary>
    private void BeforeDiskWork()
    {
        EventThreadGuard.Check("The spool file");
        OnDiskWork?.Invoke();
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _file?.Length ?? _length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _file?.Position ?? _position;
        }
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_file is not null)
        {
            return _file.Seek(offset, origin);
        }

        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("An attempt was made to move the position before the beginning of the stream.");
        }

        _position = target;
        return _position;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_file is not null)
        {
            BeforeDiskWork();
            return _file.Read(buffer);
        }

        var count = CopyOutAt(_position, buffer);
        _position += count;
        return count;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        if (_file is not null)
        {
            return ReadFromDiskAsync(buffer);
        }

        try
        {
            return ValueTask.FromResult(Read(buffer.Span));
        }
        catch (Exception e)
        {
            return ValueTask.FromException<int>(e);
        }
    }

    /// <summary>Reads at <paramref name="offset"/> without moving <see cref="Position"/> (pread on the file once spilled).</summary>
    public int ReadAt(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (_file is not null)
        {
            BeforeDiskWork();
            return RandomAccess.Read(_file.SafeFileHandle, buffer, offset);
        }

        return CopyOutAt(offset, buffer);
    }

    /// <summary>The bytes from <paramref name="offset"/> to the end of their piece, while the spool is in memory.</summary>
    public bool TryPeek(long offset, out ReadOnlyMemory<byte> memory)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (_file is not null)
        {
            memory = default;
            return false;
        }

        if (offset >= _length)
        {
            memory = ReadOnlyMemory<byte>.Empty;
            return true;
        }

        var within = (int)(offset % SegmentSize);
        memory = _segments![(int)(offset / SegmentSize)].AsMemory(within, (int)Math.Min(SegmentSize - within, _length - offset));
        return true;
    }

    /// <inheritdoc cref="ReadAt"/>
    public async ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_file is not null)
        {
            // As every disk read of the spool: off the socket event thread first.
            await ThreadPoolHop.Now;
        }

        return ReadAt(offset, buffer.Span);
    }

    private async ValueTask<int> ReadFromDiskAsync(Memory<byte> buffer)
    {
        await ThreadPoolHop.Now;
        return Read(buffer.Span);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!TryWriteInMemory(buffer))
        {
            WriteToDisk(buffer);
        }
    }

    /// <summary>Writes to the pooled pieces when the bytes fit under the threshold and the budget; false when they go to disk.</summary>
    private bool TryWriteInMemory(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var end = _position + buffer.Length;
        if (_file is not null || end > _threshold || !Reserve(end))
        {
            return false;
        }

        ClearGap(_length, _position);
        CopyIn(_position, buffer);
        _position = end;
        _length = Math.Max(_length, end);
        return true;
    }

    private void WriteToDisk(ReadOnlySpan<byte> buffer)
    {
        if (_file is null)
        {
            Spill();
        }

        BeforeDiskWork();
        _file!.Write(buffer);
    }

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        try
        {
            return TryWriteInMemory(buffer.Span) ? ValueTask.CompletedTask : WriteToDiskAsync(buffer);
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    private async ValueTask WriteToDiskAsync(ReadOnlyMemory<byte> buffer)
    {
        await ThreadPoolHop.Now;
        WriteToDisk(buffer.Span);
    }

    /// <summary>Hands the in-memory pieces to <paramref name="destination"/> as they are, without a copy buffer.</summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_file is not null)
        {
            await base.CopyToAsync(destination, bufferSize, cancellationToken).ConfigureAwait(false);
            return;
        }

        while (_position < _length)
        {
            var segment = _segments![(int)(_position / SegmentSize)];
            var offset = (int)(_position % SegmentSize);
            var count = (int)Math.Min(SegmentSize - offset, _length - _position);
            await destination.WriteAsync(segment.AsMemory(offset, count), cancellationToken).ConfigureAwait(false);
            _position += count;
        }
    }

    public override void SetLength(long value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (_file is null)
        {
            if (value <= _length)
            {
                _length = value;
                return;
            }

            if (value <= _threshold && Reserve(value))
            {
                ClearGap(_length, value);
                _length = value;
                return;
            }

            Spill();
        }

        _file!.SetLength(value);
    }

    public override void Flush()
    {
        if (_file is not null)
        {
            BeforeDiskWork();
            _file.Flush();
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_file is not null)
        {
            await ThreadPoolHop.Now;
            Flush();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            ReturnSegments();
            _file?.Dispose();
            _file = null;
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            // Closing the file unlinks it: metadata work on the disk.
            await ThreadPoolHop.Now;
        }

        Dispose(true);
        GC.SuppressFinalize(this);
    }

    private ArrayPool<byte> Pool => _budget?.Segments ?? ArrayPool<byte>.Shared;

    /// <summary>Rents the pieces that hold bytes up to <paramref name="end"/>; false when the budget says no.</summary>
    private bool Reserve(long end)
    {
        var needed = (int)((end + SegmentSize - 1) / SegmentSize);
        while (_segments!.Count < needed)
        {
            if (_budget is not null && !_budget.TryReserve(SegmentSize))
            {
                return false;
            }

            _segments.Add(Pool.Rent(SegmentSize));
        }

        return true;
    }

    /// <summary>Pooled arrays come back dirty: bytes between the old end and a write past it must read as zero.</summary>
    private void ClearGap(long from, long to)
    {
        while (from < to)
        {
            var offset = (int)(from % SegmentSize);
            var count = (int)Math.Min(SegmentSize - offset, to - from);
            _segments![(int)(from / SegmentSize)].AsSpan(offset, count).Clear();
            from += count;
        }
    }

    private void CopyIn(long at, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            var offset = (int)(at % SegmentSize);
            var count = Math.Min(SegmentSize - offset, source.Length);
            source[..count].CopyTo(_segments![(int)(at / SegmentSize)].AsSpan(offset, count));
            source = source[count..];
            at += count;
        }
    }

    /// <summary>What memory holds from <paramref name="offset"/> into <paramref name="buffer"/>; how many bytes that was.</summary>
    private int CopyOutAt(long offset, Span<byte> buffer)
    {
        var count = (int)Math.Clamp(_length - offset, 0, buffer.Length);
        CopyOut(offset, buffer[..count]);
        return count;
    }

    private void CopyOut(long at, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            var offset = (int)(at % SegmentSize);
            var count = Math.Min(SegmentSize - offset, destination.Length);
            _segments![(int)(at / SegmentSize)].AsSpan(offset, count).CopyTo(destination);
            destination = destination[count..];
            at += count;
        }
    }

    private void Spill()
    {
        BeforeDiskWork();
        var spilled = SpoolFile.Create(_dataPath);
        try
        {
            for (long at = 0; at < _length; at += SegmentSize)
            {
                spilled.Write(_segments![(int)(at / SegmentSize)].AsSpan(0, (int)Math.Min(SegmentSize, _length - at)));
            }

            spilled.Position = _position;
        }
        catch
        {
            spilled.Dispose();
            throw;
        }

        ReturnSegments();
        _file = spilled;
    }

    private void ReturnSegments()
    {
        if (_segments is null)
        {
            return;
        }

        foreach (var segment in _segments)
        {
            Pool.Return(segment);
        }

        _budget?.Release((long)_segments.Count * SegmentSize);
        _segments = null;
    }
}
