using System.IO.Pipelines;
namespace Detach.Crypto.Tests;

public class RangeTests
{
    private const int R = RecordFormat.RecordSize;
    private const int E = RecordFormat.EncryptedRecordSize;
    private const int H = RecordFormat.HeaderSize;

    // Five full records and a short sixth.
    private static readonly byte[] Plaintext = TestData.Pattern((5 * R) + 123);

    /// <summary>A ciphertext source that serves exactly the asked range from memory.</summary>
    private static Func<long, long, CancellationToken, ValueTask<Stream>> OpenFrom(byte[] ciphertext) =>
        (offset, length, _) => ValueTask.FromResult<Stream>(new MemoryStream(ciphertext, (int)offset, (int)length, writable: false));

    public static readonly TheoryData<long, long> Ranges = new()
    {
        { 0, 0 },
        { 70_000, 0 },
        { Plaintext.Length, 0 },
        { 0, 1 },
        { 0, Plaintext.Length },
        { Plaintext.Length - 1, 1 },
        { R - 1, 2 },
        { R, R },
        { 100, (3 * R) + 5 },
        { (5 * R) + 10, 113 },
        { (2 * R) + 17, 9_999 },
        { 5 * R, 123 },
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public void SeekThenReadReturnsTheSlice(long offset, long count)
    {
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 50_000, seekable: true), key);
        Assert.True(decrypting.CanSeek);
        Assert.Equal(Plaintext.Length, decrypting.Length);

        // Read somewhere else first, so the seek has to leave a loaded record behind.
        decrypting.Position = 3 * R;
        _ = decrypting.ReadByte();

        Assert.Equal(offset, decrypting.Seek(offset, SeekOrigin.Begin));
        var slice = new byte[count];
        decrypting.ReadExactly(slice);
        Assert.Equal(Plaintext.AsSpan((int)offset, (int)count).ToArray(), slice);
        Assert.Equal(offset + count, decrypting.Position);
    }

    [Fact]
    public async Task SeekFromEndAndCurrentWorkAsync()
    {
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        await using var decrypting = new RecordDecryptStream(new MemoryStream(ciphertext), key);
        decrypting.Seek(-5, SeekOrigin.End);
        var tail = new byte[10];
        int n = await decrypting.ReadAtLeastAsync(tail, 10, throwOnEndOfStream: false, TestContext.Current.CancellationToken);
        Assert.Equal(5, n);
        Assert.Equal(Plaintext.AsSpan(Plaintext.Length - 5).ToArray(), tail.AsSpan(0, 5).ToArray());

        decrypting.Seek(-(3 * R), SeekOrigin.Current);
        Assert.Equal(Plaintext[Plaintext.Length - (3 * R)], (byte)decrypting.ReadByte());
        Assert.Throws<IOException>(() => decrypting.Seek(-1, SeekOrigin.Begin));
    }

    [Fact]
    public void SeekingPastTheEndStillAuthenticatesTheLastRecord()
    {
        // Truncating the final record to a shorter (but possible) length changes only the tail:
        // a reader that jumps to the end must still see that the length is wrong.
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        var cut = ciphertext.AsSpan(0, ciphertext.Length - 50).ToArray();
        using var decrypting = new RecordDecryptStream(new MemoryStream(cut), key);
        decrypting.Seek(0, SeekOrigin.End);
        var error = Assert.Throws<RecordAuthenticationException>(() => decrypting.ReadByte());
        Assert.Equal(5, error.RecordIndex);
    }

    [Fact]
    public void CiphertextMayStartInsideALargerSeekableStream()
    {
        // E.g. an object stored after other data: positions are relative to where the stream stood.
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        var container = new byte[1000 + ciphertext.Length];
        ciphertext.CopyTo(container, 1000);
        var source = new MemoryStream(container) { Position = 1000 };
        using var decrypting = new RecordDecryptStream(source, key);
        Assert.Equal(Plaintext.Length, decrypting.Length);
        decrypting.Position = (2 * R) + 3;
        var slice = new byte[R];
        decrypting.ReadExactly(slice);
        Assert.Equal(Plaintext.AsSpan((2 * R) + 3, R).ToArray(), slice);
    }

    [Fact]
    public void NonSeekableCiphertextGivesNonSeekablePlaintext()
    {
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 1000, seekable: false), key);
        Assert.False(decrypting.CanSeek);
        Assert.Throws<NotSupportedException>(() => decrypting.Length);
        Assert.Throws<NotSupportedException>(() => decrypting.Seek(1, SeekOrigin.Begin));
    }

    [Theory]
    [MemberData(nameof(Ranges))]
    public async Task DecryptRangeFetchesOnlyTheRecordsItNeeds(long offset, long count)
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        var requests = new List<(long Offset, long Length)>();
        ValueTask<Stream> Open(long o, long l, CancellationToken cancellationToken)
        {
            requests.Add((o, l));
            return ValueTask.FromResult<Stream>(new TrickleStream(ciphertext.AsSpan((int)o, (int)l).ToArray(), 20_000, seekable: false));
        }

        using var destination = new MemoryStream();
        await RecordDecryptor.DecryptRangeAsync(Open, ciphertext.Length, key, offset, count, destination, ct);
        Assert.Equal(Plaintext.AsSpan((int)offset, (int)count).ToArray(), destination.ToArray());

        // Exactly the records overlapping the range, plus the header (fused with record 0 when adjacent).
        if (count == 0)
        {
            Assert.Empty(requests);
            return;
        }

        long first = offset / R;
        long last = (offset + count - 1) / R;
        long start = H + (first * E);
        long end = Math.Min(H + ((last + 1) * E), ciphertext.Length);
        var expected = first == 0
            ? new List<(long, long)> { (0, end) }
            : [(0, H), (start, end - start)];
        Assert.Equal(expected, requests);
    }

    [Fact]
    public async Task DecryptRangeIgnoresDamageOutsideTheRangeAndCatchesItInside()
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        ciphertext[H + (4 * E) + 10] ^= 1;
        using var good = new MemoryStream();
        await RecordDecryptor.DecryptRangeAsync(OpenFrom(ciphertext), ciphertext.Length, key, R, 2 * R, good, ct);
        Assert.Equal(Plaintext.AsSpan(R, 2 * R).ToArray(), good.ToArray());

        using var bad = new MemoryStream();
        var error = await Assert.ThrowsAsync<RecordAuthenticationException>(() =>
            RecordDecryptor.DecryptRangeAsync(OpenFrom(ciphertext), ciphertext.Length, key, (3 * R) + 5, R + 100, bad, ct));
        Assert.Equal(4, error.RecordIndex);
        Assert.Equal(R - 5, bad.Length); // the rest of record 3, nothing of record 4
    }

    /// <summary>Into a pipe writer's own memory: the same bytes for every range as into a stream.</summary>
    [Theory]
    [MemberData(nameof(Ranges))]
    public async Task DecryptRangeIntoAPipeWriterGivesTheSameBytes(long offset, long count)
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        ValueTask<Stream> Open(long o, long l, CancellationToken cancellationToken) =>
            ValueTask.FromResult<Stream>(new TrickleStream(ciphertext.AsSpan((int)o, (int)l).ToArray(), 20_000, seekable: false));

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await RecordDecryptor.DecryptRangeAsync(Open, ciphertext.Length, key, offset, count, pipe.Writer, ct);
        await pipe.Writer.CompleteAsync();
        using var received = new MemoryStream();
        await pipe.Reader.CopyToAsync(received, ct);
        Assert.Equal(Plaintext.AsSpan((int)offset, (int)count).ToArray(), received.ToArray());
    }

    /// <summary>A record failing its tag is never advanced: the reader sees the records before it and nothing more.</summary>
    [Fact]
    public async Task DecryptRangeIntoAPipeWriterReleasesNothingOfABadRecord()
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        ciphertext[H + (4 * E) + 10] ^= 1;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var error = await Assert.ThrowsAsync<RecordAuthenticationException>(() =>
            RecordDecryptor.DecryptRangeAsync(OpenFrom(ciphertext), ciphertext.Length, key, (3 * R) + 5, R + 100, pipe.Writer, ct));
        Assert.Equal(4, error.RecordIndex);
        await pipe.Writer.CompleteAsync();
        using var received = new MemoryStream();
        await pipe.Reader.CopyToAsync(received, ct);
        Assert.Equal(Plaintext.AsSpan((3 * R) + 5, R - 5).ToArray(), received.ToArray());
    }

    /// <summary>A reader that went away stops the decryption instead of it running on into nothing.</summary>
    [Fact]
    public async Task DecryptRangeIntoAPipeWriterStopsWhenTheReaderIsGone()
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        var pipe = new Pipe();
        await pipe.Reader.CompleteAsync();
        await Assert.ThrowsAsync<IOException>(() =>
            RecordDecryptor.DecryptRangeAsync(OpenFrom(ciphertext), ciphertext.Length, key, 0, Plaintext.Length, pipe.Writer, ct));
    }

    [Fact]
    public async Task DecryptRangeWithAWrongLengthFailsAtTheRecordThatMustBeLast()
    {
        // If the stored object lost its last record, the claimed length no longer matches the flags.
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        long truncated = H + (5 * E);
        var error = await Assert.ThrowsAsync<RecordAuthenticationException>(() =>
            RecordDecryptor.DecryptRangeAsync(OpenFrom(ciphertext), truncated, key, (4 * R) + 1, 10, Stream.Null, ct));
        Assert.Equal(4, error.RecordIndex);
    }

    [Fact]
    public async Task DecryptRangeRejectsAShortSource()
    {
        var ct = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(Plaintext, key, default);
        ValueTask<Stream> Open(long o, long l, CancellationToken cancellationToken) =>
            ValueTask.FromResult<Stream>(new MemoryStream(ciphertext, (int)o, (int)l - 1, writable: false));

        await Assert.ThrowsAsync<InvalidDataException>(() =>
            RecordDecryptor.DecryptRangeAsync(Open, ciphertext.Length, key, 2 * R, 10, Stream.Null, ct));
    }

    [Fact]
    public void CiphertextRangeArithmetic()
    {
        long length = Plaintext.Length;
        Assert.Equal(new CiphertextRange(0, 1, H, E, 0), RecordFormat.GetCiphertextRange(0, 1, length));
        Assert.Equal(new CiphertextRange(0, 2, H, 2 * E, R - 1), RecordFormat.GetCiphertextRange(R - 1, 2, length));
        Assert.Equal(new CiphertextRange(1, 1, H + E, E, 0), RecordFormat.GetCiphertextRange(R, R, length));
        Assert.Equal(new CiphertextRange(5, 1, H + (5 * E), 123 + 32, 122), RecordFormat.GetCiphertextRange(length - 1, 1, length));
        Assert.Equal(new CiphertextRange(0, 6, H, RecordFormat.GetCiphertextLength(length) - H, 0), RecordFormat.GetCiphertextRange(0, length, length));
        Assert.Equal(0, RecordFormat.GetCiphertextRange(length, 0, length).RecordCount);
        Assert.Equal(new CiphertextRange(0, 0, H, 0, 0), RecordFormat.GetCiphertextRange(0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordFormat.GetCiphertextRange(length, 1, length));
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordFormat.GetCiphertextRange(-1, 1, length));
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordFormat.GetCiphertextRange(0, -1, length));
    }

    [Fact]
    public void LengthArithmeticRoundTrips()
    {
        long[] lengths = [0, 1, 2, R - 1, R, R + 1, (2 * R) - 1, 2 * R, (2 * R) + 1, 10_485_763, 1L << 40, RecordFormat.MaxPlaintextLength];
        foreach (long p in lengths)
        {
            long c = RecordFormat.GetCiphertextLength(p);
            Assert.Equal(p, RecordFormat.GetPlaintextLength(c));
            Assert.Equal(H + p + (32 * RecordFormat.GetRecordCount(p)), c);
        }

        Assert.Equal(1, RecordFormat.GetRecordCount(0));
        Assert.Equal(1, RecordFormat.GetRecordCount(R));
        Assert.Equal(2, RecordFormat.GetRecordCount(R + 1));
        Assert.Equal(H + 32, RecordFormat.GetCiphertextLength(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordFormat.GetCiphertextLength(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordFormat.GetCiphertextLength(RecordFormat.MaxPlaintextLength + 1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(H)]
    [InlineData(H + 31)] // shorter than one tag
    [InlineData(H + E + 1)] // a final record shorter than its tag
    [InlineData(H + E + 31)]
    [InlineData(H + E + 32)] // an empty record after a full one: never produced
    [InlineData(long.MaxValue)]
    [InlineData(H + (140_000_000_000_000L * E))] // whole records, but more plaintext than MaxPlaintextLength
    public void ImpossibleCiphertextLengthsAreRejected(long length) =>
        Assert.Throws<InvalidDataException>(() => RecordFormat.GetPlaintextLength(length));

    [Fact]
    public void EveryCiphertextLengthNearRecordBoundariesIsEitherImpossibleOrExact()
    {
        for (long c = 0; c < H + (3 * E) + 100; c++)
        {
            long p;
            try
            {
                p = RecordFormat.GetPlaintextLength(c);
            }
            catch (InvalidDataException)
            {
                continue;
            }

            Assert.Equal(c, RecordFormat.GetCiphertextLength(p));
        }
    }
}
