namespace Detach.Crypto.Tests;

/// <summary>
/// Every modification is caught before any plaintext of the bad record is released: the bytes
/// received before the exception are exactly the plaintext of the records before it.
/// </summary>
public class TamperTests
{
    private const int R = RecordFormat.RecordSize;
    private const int E = RecordFormat.EncryptedRecordSize;
    private const int H = RecordFormat.HeaderSize;
    private const int T = RecordFormat.TagSize;

    // Three full records and a short fourth one.
    private static readonly byte[] Plaintext = TestData.Pattern((3 * R) + 1000);

    public enum Mode
    {
        Sequential,
        Seekable,
        SeekableAsync,
        PushAsync,
    }

    public static readonly TheoryData<Mode> Modes = new(Enum.GetValues<Mode>());

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task UntouchedCiphertextDecrypts(Mode mode)
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            var (received, error) = await Decrypt(mode, ciphertext, key);
            Assert.Null(error);
            Assert.Equal(Plaintext.Length, received);
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public Task FlippedSaltBitFailsRecordZero(Mode mode) =>
        AssertFailsAt(mode, c => c[H - 1] ^= 0x01, record: 0);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task FlippedCiphertextBitFailsThatRecord(Mode mode) =>
        AssertFailsAt(mode, c => c[H + E + 12345] ^= 0x80, record: 1);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task FlippedTagBitFailsThatRecord(Mode mode) =>
        AssertFailsAt(mode, c => c[H + (2 * E) + R + 7] ^= 0x04, record: 2);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task FlippedBitInShortLastRecordFailsIt(Mode mode) =>
        AssertFailsAt(mode, c => c[^1] ^= 0x10, record: 3);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task SwappedRecordsFailTheFirstMovedOne(Mode mode) =>
        AssertFailsAt(mode, c =>
        {
            var first = c.AsSpan(H + E, E).ToArray();
            c.AsSpan(H + (2 * E), E).CopyTo(c.AsSpan(H + E));
            first.CopyTo(c.AsSpan(H + (2 * E)));
        }, record: 1);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task DroppedLastRecordFailsTheNewLastOne(Mode mode) =>
        AssertFailsAt(mode, c => c.AsSpan(0, H + (3 * E)).ToArray(), record: 2);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task DroppedMiddleRecordFailsWhereItWas(Mode mode) =>
        AssertFailsAt(mode, c => [.. c.AsSpan(0, H + E), .. c.AsSpan(H + (2 * E))], record: 1);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task LastRecordCutInsideItsTagFails(Mode mode) =>
        AssertFailsAt(mode, c => c.AsSpan(0, c.Length - 1).ToArray(), record: 3);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task ExtraByteAppendedFailsTheLastRecord(Mode mode) =>
        AssertFailsAt(mode, c => [.. c, 0], record: 3);

    [Theory]
    [MemberData(nameof(Modes))]
    public Task AppendedRecordSizedGarbageFailsTheLastRecord(Mode mode) =>
        AssertFailsAt(mode, c => [.. c, .. new byte[E + 100]], record: 3);

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task WrongLinkKeyFailsRecordZero(Mode mode)
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            var link = key.LinkKey.ToArray();
            link[31] ^= 1;
            using var wrong = new FileKey(link, key.VaultKey);
            var (received, error) = await Decrypt(mode, ciphertext, wrong);
            Assert.Equal(0, Assert.IsType<RecordAuthenticationException>(error).RecordIndex);
            Assert.Equal(0, received);
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task WrongVaultKeyFailsRecordZero(Mode mode)
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            using var wrong = new FileKey(key.LinkKey, new byte[32]);
            var (_, error) = await Decrypt(mode, ciphertext, wrong);
            Assert.Equal(0, Assert.IsType<RecordAuthenticationException>(error).RecordIndex);
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task EmptyPlaintextIsAuthenticatedToo(Mode mode)
    {
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt([], key, default);
        Assert.Equal(H + T, ciphertext.Length);
        Assert.Null((await Decrypt(mode, ciphertext, key)).Error);

        ciphertext[H + 3] ^= 1;
        var (_, error) = await Decrypt(mode, ciphertext, key);
        Assert.Equal(0, Assert.IsType<RecordAuthenticationException>(error).RecordIndex);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task BadMagicIsNotOurFormat(Mode mode)
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            ciphertext[0] ^= 0x20;
            var (received, error) = await Decrypt(mode, ciphertext, key);
            Assert.IsType<InvalidDataException>(error);
            Assert.Equal(0, received);
        }
    }

    [Fact]
    public async Task ImpossibleLengthIsALengthErrorWhenSeekable()
    {
        // A whole number of full records plus 5 bytes cannot be a record: the arithmetic rejects it up front.
        using var key = FileKey.Generate();
        var ciphertext = RecordEncryptor.Encrypt(TestData.Pattern(2 * R), key, default);
        var extended = ciphertext.Concat(new byte[5]).ToArray();
        var (received, error) = await Decrypt(Mode.Seekable, extended, key);
        Assert.IsType<InvalidDataException>(error);
        Assert.Equal(0, received);

        // Streaming, the same bytes fail authentication of the last real record instead.
        (received, error) = await Decrypt(Mode.Sequential, extended, key);
        Assert.Equal(1, Assert.IsType<RecordAuthenticationException>(error).RecordIndex);
        Assert.Equal(R, received);
    }

    [Fact]
    public void SequentialFailureIsSticky()
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            ciphertext[H + E + 1] ^= 1;
            using var decrypting = new RecordDecryptStream(new TrickleStream(ciphertext, 100_000, seekable: false), key);
            var buffer = new byte[R];
            decrypting.ReadExactly(buffer);
            Assert.Equal(1, Assert.Throws<RecordAuthenticationException>(() => decrypting.Read(buffer)).RecordIndex);
            Assert.Equal(1, Assert.Throws<RecordAuthenticationException>(() => decrypting.Read(buffer)).RecordIndex);
        }
    }

    [Fact]
    public void ExceptionNamesTheRecordButNoKey()
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            ciphertext[H + 5] ^= 1;
            using var decrypting = new RecordDecryptStream(new MemoryStream(ciphertext), key);
            var error = Assert.Throws<RecordAuthenticationException>(() => TestData.ReadAll(decrypting, 4096));
            Assert.IsAssignableFrom<System.Security.Cryptography.CryptographicException>(error);
            Assert.Contains("record 0", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(LinkKeyText.Encode(key.LinkKey), error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(key.LinkKey)[..8], error.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static (byte[] Ciphertext, FileKey Key) Encrypt()
    {
        var key = FileKey.Generate();
        return (RecordEncryptor.Encrypt(Plaintext, key, default), key);
    }

    private static async Task AssertFailsAt(Mode mode, Func<byte[], byte[]> tamper, int record)
    {
        var (ciphertext, key) = Encrypt();
        using (key)
        {
            var (received, error) = await Decrypt(mode, tamper(ciphertext), key);
            var authentication = Assert.IsType<RecordAuthenticationException>(error);
            Assert.Equal(record, authentication.RecordIndex);
            Assert.Equal((long)record * R, received);
        }
    }

    private static Task AssertFailsAt(Mode mode, Action<byte[]> tamper, int record) =>
        AssertFailsAt(mode, c =>
        {
            tamper(c);
            return c;
        }, record);

    /// <summary>Decrypts, counting plaintext bytes released (and checking each is right) until an exception.</summary>
    private static async Task<(long Received, Exception? Error)> Decrypt(Mode mode, byte[] ciphertext, FileKey key)
    {
        var ct = TestContext.Current.CancellationToken;
        var sink = new CheckingSink(Plaintext);
        try
        {
            switch (mode)
            {
                case Mode.Sequential:
                    using (var stream = new RecordDecryptStream(new TrickleStream(ciphertext, 10_000, seekable: false), key))
                    {
                        var buffer = new byte[4099];
                        int n;
                        while ((n = stream.Read(buffer)) > 0)
                        {
                            sink.Write(buffer, 0, n);
                        }
                    }

                    break;
                case Mode.Seekable:
                    using (var stream = new RecordDecryptStream(new MemoryStream(ciphertext), key))
                    {
                        var buffer = new byte[100_000];
                        int n;
                        while ((n = stream.Read(buffer)) > 0)
                        {
                            sink.Write(buffer, 0, n);
                        }
                    }

                    break;
                case Mode.SeekableAsync:
                    await using (var stream = new RecordDecryptStream(new TrickleStream(ciphertext, 30_000, seekable: true), key))
                    {
                        await stream.CopyToAsync(sink, 7, ct);
                    }

                    break;
                case Mode.PushAsync:
                    await RecordDecryptor.DecryptAsync(new TrickleStream(ciphertext, 65_000, seekable: false), sink, key, ct);
                    break;
            }
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or InvalidDataException)
        {
            return (sink.Length, e);
        }

        return (sink.Length, null);
    }

    /// <summary>Write-only sink that counts bytes and fails if any differs from the expected plaintext.</summary>
    private sealed class CheckingSink(byte[] expected) : Stream
    {
        private long _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_length + buffer.Length <= expected.Length)
            {
                Assert.True(buffer.SequenceEqual(expected.AsSpan((int)_length, buffer.Length)), $"wrong plaintext released at offset {_length}");
            }

            _length += buffer.Length;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
