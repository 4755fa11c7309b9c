namespace Detach.Gateway.Processing;

/// <summary>
/// A write-only stream that decides at its first write whether the bytes matter: when
/// <paramref name="keep"/> says yes they go to <paramref name="inner"/>, otherwise they are only counted and
/// dropped (<see cref="Discarded"/>). Used to skip copying a message that the rewriter passes through as is.
/// </summary>
internal sealed class ElidedOutput(Stream inner, Func<bool> keep) : Stream
{
    private bool? keeping;

    /// <summary>Bytes were written and dropped.</summary>
    public bool Discarded => keeping == false;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!buffer.IsEmpty && Keeping())
        {
            inner.Write(buffer);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        !buffer.IsEmpty && Keeping() ? inner.WriteAsync(buffer, cancellationToken) : ValueTask.CompletedTask;

    public override void Flush()
    {
        if (keeping == true)
        {
            inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        keeping == true ? inner.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private bool Keeping() => keeping ??= keep();
}
