namespace Detach.Vault.Storage;

/// <summary>
/// Reads through to a stream it does not own, counting bytes; it hides seeking so HttpClient
/// streams the body chunked instead of asking for a length. The watchdog is paused while the
/// source is read and armed again once HttpClient has the bytes to send.
/// </summary>
internal sealed class CountingReadStream(Stream inner, UploadWatchdog? watchdog = null) : ReadOnlyStream
{
    public long BytesRead { get; private set; }

    public override long Position => BytesRead;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        watchdog?.Pause();
        var n = inner.Read(buffer);
        watchdog?.Arm();
        BytesRead += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        watchdog?.Pause();
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        watchdog?.Arm();
        BytesRead += n;
        return n;
    }
}
