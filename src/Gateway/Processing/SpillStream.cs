using System.Buffers;
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
public sealed class SpillStream : Stream
{
    /// <summary>1 MiB: nearly all mail without attachments, and a lot with, never touches the disk.</summary>
    public const int DefaultThreshold = 1024 * 1024;

    /// <summary>Memory is rented in pieces of this size, so a 5 KB message holds 16 KiB, not the threshold.</summary>
    public const int SegmentSize = 16 * 1024;

    private readonly string dataPath;
    private readonly long threshold;
    private readonly SpillBudget? budget;
    private List<byte[]>? segments = [];
    private FileStream? file;
    private long length;
    private long position;
    private bool disposed;

    /// <param name="dataPath">{DataPath}: the temporary file, when needed, goes to its tmp folder.</param>
    /// <param name="threshold">Bytes held in memory at most; one more and the spool moves to disk.</param>
    /// <param name="budget">Memory shared by all spools of the host; null for no shared limit.</param>
    public SpillStream(string dataPath, long threshold = DefaultThreshold, SpillBudget? budget = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataPath);
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        this.dataPath = dataPath;
        this.threshold = threshold;
        this.budget = budget;
    }

    /// <summary>True once the content lives in a temporary file.</summary>
    public bool IsSpilled => file is not null;

    /// <summary>Called before each piece of disk work (tests watch which thread does it).</summary>
    internal Action? OnDiskWork { get; set; }

    /// <summary>Disk work never runs on the socket event thread: the tests' guard says so loudly, the hook counts it.</summary>
    private void BeforeDiskWork()
    {
        EventThreadGuard.Check("The spool file");
        OnDiskWork?.Invoke();
    }

    public override bool CanRead => !disposed;

    public override bool CanSeek => !disposed;

    public override bool CanWrite => !disposed;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return file?.Length ?? length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return file?.Position ?? position;
        }
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (file is not null)
        {
            return file.Seek(offset, origin);
        }

        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => position + offset,
            SeekOrigin.End => length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("An attempt was made to move the position before the beginning of the stream.");
        }

        position = target;
        return position;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (file is not null)
        {
            BeforeDiskWork();
            return file.Read(buffer);
        }

        var count = (int)Math.Clamp(length - position, 0, buffer.Length);
        CopyOut(position, buffer[..count]);
        position += count;
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

        if (file is not null)
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
        ObjectDisposedException.ThrowIf(disposed, this);
        var end = position + buffer.Length;
        if (file is not null || end > threshold || !Reserve(end))
        {
            return false;
        }

        ClearGap(length, position);
        CopyIn(position, buffer);
        position = end;
        length = Math.Max(length, end);
        return true;
    }

    private void WriteToDisk(ReadOnlySpan<byte> buffer)
    {
        if (file is null)
        {
            Spill();
        }

        BeforeDiskWork();
        file!.Write(buffer);
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
        ObjectDisposedException.ThrowIf(disposed, this);
        if (file is not null)
        {
            await base.CopyToAsync(destination, bufferSize, cancellationToken).ConfigureAwait(false);
            return;
        }

        while (position < length)
        {
            var segment = segments![(int)(position / SegmentSize)];
            var offset = (int)(position % SegmentSize);
            var count = (int)Math.Min(SegmentSize - offset, length - position);
            await destination.WriteAsync(segment.AsMemory(offset, count), cancellationToken).ConfigureAwait(false);
            position += count;
        }
    }

    public override void SetLength(long value)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (file is null)
        {
            if (value <= length)
            {
                length = value;
                return;
            }

            if (value <= threshold && Reserve(value))
            {
                ClearGap(length, value);
                length = value;
                return;
            }

            Spill();
        }

        file!.SetLength(value);
    }

    public override void Flush()
    {
        if (file is not null)
        {
            BeforeDiskWork();
            file.Flush();
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (file is not null)
        {
            await ThreadPoolHop.Now;
            Flush();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposed)
        {
            disposed = true;
            ReturnSegments();
            file?.Dispose();
            file = null;
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (file is not null)
        {
            // Closing the file unlinks it: metadata work on the disk.
            await ThreadPoolHop.Now;
        }

        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Rents the pieces that hold bytes up to <paramref name="end"/>; false when the budget says no.</summary>
    private bool Reserve(long end)
    {
        var needed = (int)((end + SegmentSize - 1) / SegmentSize);
        while (segments!.Count < needed)
        {
            if (budget is not null && !budget.TryReserve(SegmentSize))
            {
                return false;
            }

            segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
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
            segments![(int)(from / SegmentSize)].AsSpan(offset, count).Clear();
            from += count;
        }
    }

    private void CopyIn(long at, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            var offset = (int)(at % SegmentSize);
            var count = Math.Min(SegmentSize - offset, source.Length);
            source[..count].CopyTo(segments![(int)(at / SegmentSize)].AsSpan(offset, count));
            source = source[count..];
            at += count;
        }
    }

    private void CopyOut(long at, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            var offset = (int)(at % SegmentSize);
            var count = Math.Min(SegmentSize - offset, destination.Length);
            segments![(int)(at / SegmentSize)].AsSpan(offset, count).CopyTo(destination);
            destination = destination[count..];
            at += count;
        }
    }

    private void Spill()
    {
        BeforeDiskWork();
        var spilled = SpoolFile.Create(dataPath);
        try
        {
            for (long at = 0; at < length; at += SegmentSize)
            {
                spilled.Write(segments![(int)(at / SegmentSize)].AsSpan(0, (int)Math.Min(SegmentSize, length - at)));
            }

            spilled.Position = position;
        }
        catch
        {
            spilled.Dispose();
            throw;
        }

        ReturnSegments();
        file = spilled;
    }

    private void ReturnSegments()
    {
        if (segments is null)
        {
            return;
        }

        foreach (var segment in segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        budget?.Release((long)segments.Count * SegmentSize);
        segments = null;
    }
}
