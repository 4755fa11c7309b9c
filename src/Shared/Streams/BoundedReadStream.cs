namespace Detach.Streams;

/// <summary>
/// A read-only view of <c>length</c> bytes of another stream: the next ones, from where that stream stands (the view
/// owns it: the content store's range reads), or those at a fixed offset of a seekable spool that several views share
/// in turn (<see cref="AtOffset"/>: each read positions the spool first, and the spool stays the caller's).
/// </summary>
internal sealed class BoundedReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly long? _start;
    private readonly long _length;
    private long _position;

    /// <summary>The next <paramref name="length"/> bytes of <paramref name="inner"/>, which the view owns.</summary>
    public BoundedReadStream(Stream inner, long length)
        : this(inner, null, length)
    {
    }

    private BoundedReadStream(Stream inner, long? start, long length)
    {
        _inner = inner;
        _start = start;
        _length = Math.Max(0, length);
    }

    /// <summary>The <paramref name="length"/> bytes of <paramref name="spool"/> from <paramref name="start"/>; the spool is not owned.</summary>
    public static BoundedReadStream AtOffset(Stream spool, long start, long length) => new(spool, start, length);

    public override long Length => _length;

    public override long Position => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var want = NextReadLength(buffer.Length);
        if (want == 0)
        {
            return 0;
        }

        var n = _inner.Read(buffer[..want]);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var want = NextReadLength(buffer.Length);
        if (want == 0)
        {
            return 0;
        }

        var n = await _inner.ReadAsync(buffer[..want], cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    /// <summary>How much of a read of <paramref name="requested"/> bytes lies in the range; positions a shared spool for it.</summary>
    private int NextReadLength(int requested)
    {
        var want = (int)Math.Min(requested, _length - _position);
        if (want > 0 && _start is { } start)
        {
            _inner.Position = start + _position;
        }

        return Math.Max(0, want);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _start is null)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => _start is null ? _inner.DisposeAsync() : base.DisposeAsync();
}
