using System.Security.Cryptography;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// A non-seekable stream of <c>length</c> deterministic pseudo-random bytes (xorshift from a
/// seed), so large test files need no memory and can be regenerated to check what came back.
/// <see cref="OnProgress"/> is called with the bytes delivered so far after each read.
/// </summary>
internal sealed class PatternStream(ulong seed, long length) : Stream
{
    private ulong _state = seed | 1;
    private long _position;

    public Action<long>? OnProgress { get; init; }

    /// <summary>Read at most this many bytes per call (to pace uploads in the node-down tests).</summary>
    public int MaxReadSize { get; init; } = int.MaxValue;

    public static byte[] Bytes(ulong seed, int length)
    {
        var bytes = new byte[length];
        using var stream = new PatternStream(seed, length);
        stream.ReadExactly(bytes);
        return bytes;
    }

    public static byte[] Sha256(ulong seed, long length)
    {
        using var stream = new PatternStream(seed, length);
        return SHA256.HashData(stream);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => length;
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = (int)Math.Min(Math.Min(buffer.Length, MaxReadSize), length - _position);
        for (var i = 0; i < n; i++)
        {
            _state ^= _state << 13;
            _state ^= _state >> 7;
            _state ^= _state << 17;
            buffer[i] = (byte)_state;
        }
        _position += n;
        if (n > 0)
        {
            OnProgress?.Invoke(_position);
        }
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
