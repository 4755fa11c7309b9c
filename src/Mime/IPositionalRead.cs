namespace Detach.Mime;

/// <summary>
/// A spool read at an offset, without a shared position: every view of a part's body reads where it lies, so views
/// do not have to position one stream in turn (and two of them may read at once). A spool that is not one of these
/// is read through <see cref="PositionalRead.Over"/>.
/// </summary>
public interface IPositionalRead
{
    /// <summary>Reads up to <paramref name="buffer"/>'s length from <paramref name="offset"/>; 0 at the end.</summary>
    int ReadAt(long offset, Span<byte> buffer);

    /// <inheritdoc cref="ReadAt"/>
    ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>
    /// The bytes from <paramref name="offset"/> to the end of the contiguous piece of memory that holds them, for a
    /// reader that can use them where they lie instead of copying them out (empty at the end); false, the default,
    /// when they have to be read. They stay valid until the spool is written to or disposed.
    /// </summary>
    bool TryPeek(long offset, out ReadOnlyMemory<byte> memory)
    {
        memory = default;
        return false;
    }
}

/// <summary>Positional reads over any seekable stream a caller hands the parser.</summary>
public static class PositionalRead
{
    /// <summary>
    /// The stream itself when it reads at an offset; a file through its handle (pread: no shared position); a memory
    /// stream through its buffer; anything else by positioning it before each read, which is safe only for one reader
    /// at a time.
    /// </summary>
    public static IPositionalRead Over(Stream spool)
    {
        ArgumentNullException.ThrowIfNull(spool);
        return spool switch
        {
            IPositionalRead own => own,
            FileStream file => new FileRead(file),
            MemoryStream memory when memory.TryGetBuffer(out var bytes) => new MemoryRead(bytes),
            _ => new SeekingRead(spool),
        };
    }

    private sealed class FileRead(FileStream file) : IPositionalRead
    {
        public int ReadAt(long offset, Span<byte> buffer) => RandomAccess.Read(file.SafeFileHandle, buffer, offset);

        public ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
            RandomAccess.ReadAsync(file.SafeFileHandle, buffer, offset, cancellationToken);
    }

    private sealed class MemoryRead(ArraySegment<byte> bytes) : IPositionalRead
    {
        public int ReadAt(long offset, Span<byte> buffer)
        {
            var count = (int)Math.Clamp(bytes.Count - offset, 0, buffer.Length);
            bytes.AsSpan((int)offset, count).CopyTo(buffer);
            return count;
        }

        public ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
            cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : ValueTask.FromResult(ReadAt(offset, buffer.Span));

        public bool TryPeek(long offset, out ReadOnlyMemory<byte> memory)
        {
            memory = bytes.AsMemory((int)Math.Min(offset, bytes.Count));
            return true;
        }
    }

    private sealed class SeekingRead(Stream spool) : IPositionalRead
    {
        public int ReadAt(long offset, Span<byte> buffer)
        {
            spool.Position = offset;
            return spool.Read(buffer);
        }

        public ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            spool.Position = offset;
            return spool.ReadAsync(buffer, cancellationToken);
        }
    }
}
