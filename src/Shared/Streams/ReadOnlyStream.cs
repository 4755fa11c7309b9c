namespace Detach.Streams;

/// <summary>
/// The part of <see cref="Stream"/> a forward-only reader does not implement, written once: it reads, never seeks or
/// writes, and has no length or position unless the subclass overrides them (overriding just the getter keeps the
/// setter refusing). A subclass implements the synchronous array read and the asynchronous memory read; the
/// asynchronous array read comes here.
/// </summary>
/// <remarks>
/// Linked as source into each project that needs it (src/Shared/README.md), where it is internal: the leaf libraries
/// stay without a project reference.
/// </remarks>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
