namespace Detach.Vault.Storage;

/// <summary>
/// A read-only view of the next <c>length</c> bytes of another stream, from where that stream stands; the view owns
/// it (the content store's range reads).
/// </summary>
internal sealed class BoundedReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly long _length;
    private long _position;

    /// <summary>The next <paramref name="length"/> bytes of <paramref name="inner"/>, which the view owns.</summary>
    public BoundedReadStream(Stream inner, long length)
    {
        _inner = inner;
        _length = Math.Max(0, length);
    }

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

    private int NextReadLength(int requested) => (int)Math.Max(0, Math.Min(requested, _length - _position));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => _inner.DisposeAsync();
}
