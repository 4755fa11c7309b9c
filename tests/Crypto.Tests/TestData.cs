namespace Detach.Crypto.Tests;

/// <summary>Deterministic plaintexts, fixed keys and stream wrappers shared by the tests.</summary>
internal static class TestData
{
    public static byte[] Pattern(long length)
    {
        // i mod 251: a prime period, so no two records hold the same bytes.
        var data = new byte[length];
        for (long i = 0; i < length; i++)
        {
            data[i] = (byte)(i % 251);
        }

        return data;
    }

    public static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static FileKey FixedKey()
    {
        var link = new byte[32];
        var vault = new byte[32];
        for (int i = 0; i < 32; i++)
        {
            link[i] = (byte)i;
            vault[i] = (byte)(0x20 + i);
        }

        return new FileKey(link, vault);
    }

    /// <summary>Reads a stream to its end in reads of exactly <paramref name="readSize"/> bytes requested.</summary>
    public static byte[] ReadAll(Stream stream, int readSize)
    {
        using var result = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = stream.Read(buffer, 0, readSize)) > 0)
        {
            result.Write(buffer, 0, n);
        }

        return result.ToArray();
    }

    public static async Task<byte[]> ReadAllAsync(Stream stream, int readSize)
    {
        using var result = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = await stream.ReadAsync(buffer.AsMemory(0, readSize), TestContext.Current.CancellationToken)) > 0)
        {
            result.Write(buffer, 0, n);
        }

        return result.ToArray();
    }
}

/// <summary>
/// A read-only view of a byte array that returns at most <c>maxChunk</c> bytes per read (as a
/// network would) and is seekable only if asked, to exercise both decryption modes.
/// </summary>
internal sealed class TrickleStream(byte[] data, int maxChunk, bool seekable) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => seekable;

    public override bool CanWrite => false;

    public override long Length => seekable ? data.Length : throw new NotSupportedException();

    public override long Position
    {
        get => seekable ? _position : throw new NotSupportedException();
        set
        {
            if (!seekable)
            {
                throw new NotSupportedException();
            }

            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = (int)Math.Min(Math.Min(buffer.Length, maxChunk), Math.Max(0, data.Length - _position));
        data.AsSpan((int)_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        return Read(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => data.Length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
