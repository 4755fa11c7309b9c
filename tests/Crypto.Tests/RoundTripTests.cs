namespace Detach.Crypto.Tests;

public class RoundTripTests
{
    public static readonly TheoryData<int> Sizes = new(0, 1, 65535, 65536, 65537, (10 * 1024 * 1024) + 3);

    public static readonly TheoryData<int, int> SizesAndReads = Cross();

    [Theory]
    [MemberData(nameof(SizesAndReads))]
    public void PullEncryptThenStreamDecrypt_Sync(int size, int readSize)
    {
        var plaintext = TestData.Pattern(size);
        using var key = FileKey.Generate();

        using var encrypting = new RecordEncryptingStream(new TrickleStream(plaintext, 5000, seekable: false), key);
        var ciphertext = TestData.ReadAll(encrypting, readSize);
        Assert.Equal(RecordFormat.GetCiphertextLength(size), ciphertext.Length);
        Assert.Equal(ciphertext.Length, encrypting.Position);

        using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 70000, seekable: false), key);
        Assert.Equal(plaintext, TestData.ReadAll(decrypting, readSize));
    }

    [Theory]
    [MemberData(nameof(SizesAndReads))]
    public async Task PullEncryptThenStreamDecrypt_Async(int size, int readSize)
    {
        var plaintext = TestData.Pattern(size);
        using var key = FileKey.Generate();

        await using var encrypting = new RecordEncryptingStream(new TrickleStream(plaintext, 100001, seekable: false), key);
        var ciphertext = await TestData.ReadAllAsync(encrypting, readSize);
        Assert.Equal(RecordFormat.GetCiphertextLength(size), ciphertext.Length);

        await using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 3000, seekable: true), key);
        Assert.Equal(plaintext, await TestData.ReadAllAsync(decrypting, readSize));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task PushEncryptThenDecrypt(int size)
    {
        var ct = TestContext.Current.CancellationToken;
        var plaintext = TestData.Pattern(size);
        using var key = FileKey.Generate();

        using var ciphertext = new MemoryStream();
        long written = await RecordEncryptor.EncryptAsync(new TrickleStream(plaintext, 7, seekable: false), ciphertext, key, ct);
        Assert.Equal(RecordFormat.GetCiphertextLength(size), written);
        Assert.Equal(written, ciphertext.Length);
        Assert.Equal(size, RecordFormat.GetPlaintextLength(written));

        ciphertext.Position = 0;
        using var decrypted = new MemoryStream();
        await RecordDecryptor.DecryptAsync(ciphertext, decrypted, key, ct);
        Assert.Equal(plaintext, decrypted.ToArray());
    }

    [Fact]
    public async Task PipeEncryptMatchesStreamDecrypt()
    {
        var ct = TestContext.Current.CancellationToken;
        var plaintext = TestData.Pattern(200_000);
        using var key = FileKey.Generate();
        var input = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 0));
        var output = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 0));
        await input.Writer.WriteAsync(plaintext, ct);
        await input.Writer.CompleteAsync();

        long written = await RecordEncryptor.EncryptAsync(input.Reader, output.Writer, key, ct);
        await output.Writer.CompleteAsync();
        await using var decrypting = new RecordDecryptStream(output.Reader.AsStream(), key);
        Assert.Equal(RecordFormat.GetCiphertextLength(plaintext.Length), written);
        Assert.Equal(plaintext, await TestData.ReadAllAsync(decrypting, 65536));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task MixedReadSizesSwitchBetweenBufferedAndDirectReads(int seed)
    {
        // Small reads leave part of a record buffered; large ones then must drain it before sealing in place.
        var random = new Random(seed);
        var plaintext = TestData.Pattern((7 * 65536) + 999);
        using var key = FileKey.Generate();
        await using var encrypting = new RecordEncryptingStream(new TrickleStream(plaintext, 40_000, seekable: false), key);
        var ciphertext = await ReadMixed(encrypting, random);
        Assert.Equal(RecordFormat.GetCiphertextLength(plaintext.Length), ciphertext.Length);

        await using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 40_000, seekable: seed != 1), key);
        Assert.Equal(plaintext, await ReadMixed(decrypting, random));
    }

    [Fact]
    public void PlaintextSourceFailureIsSticky()
    {
        using var key = FileKey.Generate();
        using var encrypting = new RecordEncryptingStream(new FailingStream(), key);
        Assert.Throws<IOException>(() => encrypting.Read(new byte[10]));
        Assert.Throws<InvalidOperationException>(() => encrypting.Read(new byte[10]));
    }

    [Fact]
    public void EncryptingStreamKnowsItsLengthOverSeekablePlaintext()
    {
        using var key = FileKey.Generate();
        using var encrypting = new RecordEncryptingStream(new MemoryStream(new byte[70000]), key);
        Assert.Equal(RecordFormat.GetCiphertextLength(70000), encrypting.Length);
        Assert.False(encrypting.CanSeek);
        Assert.False(encrypting.CanWrite);
    }

    [Fact]
    public void EachEncryptionDrawsAFreshSalt()
    {
        using var key = FileKey.Generate();
        var plaintext = TestData.Pattern(100);
        using var a = new RecordEncryptingStream(new MemoryStream(plaintext), key);
        using var b = new RecordEncryptingStream(new MemoryStream(plaintext), key);
        var first = TestData.ReadAll(a, 4096);
        var second = TestData.ReadAll(b, 4096);

        // Same key, same plaintext: different salt, hence different keys, keystream and tags.
        Assert.NotEqual(first.AsSpan(8, 32).ToArray(), second.AsSpan(8, 32).ToArray());
        Assert.NotEqual(first.AsSpan(40).ToArray(), second.AsSpan(40).ToArray());
    }

    [Fact]
    public void FullFinalRecordIsFlaggedLastWithoutAnEmptyRecordAfterIt()
    {
        using var key = FileKey.Generate();
        foreach (int size in new[] { 65536, 2 * 65536 })
        {
            // The source trickles, so the encryptor cannot tell from one read that the data ended.
            using var encrypting = new RecordEncryptingStream(new TrickleStream(new byte[size], 1000, seekable: false), key);
            var ciphertext = TestData.ReadAll(encrypting, 65536);
            Assert.Equal(RecordFormat.HeaderSize + (size / 65536 * RecordFormat.EncryptedRecordSize), ciphertext.Length);
            using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 1000, seekable: false), key);
            Assert.Equal(size, TestData.ReadAll(decrypting, 4096).Length);
        }
    }

    [Fact]
    public void AllocationsDoNotGrowWithTheNumberOfRecords()
    {
        using var key = FileKey.Generate();
        var plaintext = new byte[16 * 1024 * 1024];
        var ciphertext = new byte[RecordFormat.GetCiphertextLength(plaintext.Length)];
        var readBuffer = new byte[100_000];
        RoundTrip();
        long before = GC.GetAllocatedBytesForCurrentThread();
        RoundTrip();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // 256 records each way: one record-sized byte[] per record would be 32 MiB. Per-operation setup is a
        // few KiB, plus at most the two 128 KiB record buffers if a GC trimmed the array pool meanwhile.
        Assert.True(allocated < 512 * 1024, $"{allocated} bytes allocated for 256 records");

        void RoundTrip()
        {
            using (var encrypting = new RecordEncryptingStream(new MemoryStream(plaintext, writable: false), key))
            {
                encrypting.ReadExactly(ciphertext);
            }

            using var decrypting = new RecordDecryptStream(new MemoryStream(ciphertext, writable: false), key);
            while (decrypting.Read(readBuffer) > 0)
            {
            }
        }
    }

    private static async Task<byte[]> ReadMixed(Stream stream, Random random)
    {
        using var result = new MemoryStream();
        var buffer = new byte[200_000];
        while (true)
        {
            int size = random.Next(4) switch
            {
                0 => random.Next(1, 100),
                1 => random.Next(100, 66_000),
                _ => random.Next(66_000, buffer.Length),
            };
            int n = random.Next(2) == 0
                ? stream.Read(buffer, 0, size)
                : await stream.ReadAsync(buffer.AsMemory(0, size), TestContext.Current.CancellationToken);
            if (n == 0)
            {
                return result.ToArray();
            }

            result.Write(buffer, 0, n);
        }
    }

    private static TheoryData<int, int> Cross()
    {
        var data = new TheoryData<int, int>();
        foreach (int size in new[] { 0, 1, 65535, 65536, 65537, (10 * 1024 * 1024) + 3 })
        {
            foreach (int read in new[] { 1, 7, 4096, 100000 })
            {
                data.Add(size, read);
            }
        }

        return data;
    }
}

/// <summary>A plaintext source whose disk fails.</summary>
internal sealed class FailingStream : Stream
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

    public override int Read(byte[] buffer, int offset, int count) => throw new IOException("disk failed");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
