namespace Detach.Mime;

/// <summary>A read-only view of <c>length</c> bytes of a spool from <c>start</c>, read where they lie.</summary>
internal sealed class SpoolRange(IPositionalRead spool, long start, long length) : ReadOnlyStream
{
    private readonly long _length = Math.Max(0, length);
    private long _position;

    public override long Length => _length;

    public override long Position => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = spool.ReadAt(start + _position, buffer[..Want(buffer.Length)]);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await spool.ReadAtAsync(start + _position, buffer[..Want(buffer.Length)], cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    /// <summary>
    /// The next bytes of the range, at most <paramref name="max"/>, where the spool holds them in memory
    /// (<see cref="IPositionalRead.TryPeek"/>), moving past them; empty at the end. False when they have to be read.
    /// </summary>
    public bool TryTake(int max, out ReadOnlyMemory<byte> memory)
    {
        if (!spool.TryPeek(start + _position, out memory))
        {
            return false;
        }

        memory = memory[..Math.Min(memory.Length, Want(max))];
        _position += memory.Length;
        return true;
    }

    private int Want(int requested) => (int)Math.Min(requested, _length - _position);
}
