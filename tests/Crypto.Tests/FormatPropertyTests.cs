using CsCheck;

namespace Detach.Crypto.Tests;

/// <summary>
/// Properties of the format over generated inputs (CsCheck; a failure prints the shrunk case and its seed):
/// any plaintext and any read split decrypt to the plaintext, any range to its slice, and any single-bit flip
/// is refused at the record it hits, with nothing of that record or later released.
/// </summary>
public class FormatPropertyTests
{
    private const int R = RecordFormat.RecordSize;

    /// <summary>Lengths that matter: tiny, around one or two record boundaries, and up to three records.</summary>
    private static readonly Gen<int> Length = Gen.OneOf(Gen.Int[0, 300], Gen.Int[R - 40, R + 40], Gen.Int[(2 * R) - 40, (2 * R) + 40], Gen.Int[0, 3 * R]);

    private static readonly Gen<(byte[] Plaintext, byte[] Ciphertext)> Encrypted =
        from length in Length
        from seed in Gen.Int
        select Encrypt(TestData.Random(length, seed));

    private static (byte[], byte[]) Encrypt(byte[] plaintext)
    {
        using var key = TestData.FixedKey();
        using var output = new MemoryStream();
        RecordEncryptor.EncryptAsync(new MemoryStream(plaintext), output, key, CancellationToken.None).GetAwaiter().GetResult();
        return (plaintext, output.ToArray());
    }

    [Fact]
    public void Any_plaintext_read_in_any_split_decrypts_to_itself()
    {
        Gen.Select(Encrypted, Gen.Int[1, 3 * R], Gen.Bool).Sample((encrypted, readSize, seekable) =>
        {
            var (plaintext, ciphertext) = encrypted;
            Assert.Equal(RecordFormat.GetCiphertextLength(plaintext.Length), ciphertext.Length);
            using var key = TestData.FixedKey();
            Stream source = seekable ? new MemoryStream(ciphertext) : new ForwardOnlyStream(ciphertext);
            using var decrypting = new RecordDecryptStream(source, key);
            Assert.Equal(plaintext, TestData.ReadAll(decrypting, readSize));
        }, iter: 60, threads: 1);
    }

    [Fact]
    public void Any_range_decrypts_to_its_slice()
    {
        var cases =
            from encrypted in Encrypted
            from offset in Gen.Int[0, encrypted.Plaintext.Length]
            from count in Gen.Int[0, encrypted.Plaintext.Length - offset]
            select (encrypted.Plaintext, encrypted.Ciphertext, offset, count);
        cases.Sample(c =>
        {
            var (plaintext, ciphertext, offset, count) = c;
            using var key = TestData.FixedKey();
            var fetched = new List<(long Offset, long Length)>();
            using var output = new MemoryStream();
            RecordDecryptor.DecryptRangeAsync((o, l, _) =>
            {
                fetched.Add((o, l));
                return ValueTask.FromResult<Stream>(new MemoryStream(ciphertext, (int)o, (int)l, writable: false));
            }, ciphertext.Length, key, offset, count, output, CancellationToken.None).GetAwaiter().GetResult();
            Assert.Equal(plaintext.AsSpan(offset, count).ToArray(), output.ToArray());

            // Only the header and the records holding the range are fetched.
            var range = RecordFormat.GetCiphertextRange(offset, count, plaintext.Length);
            Assert.True(count > 0 || fetched.Count == 0, "an empty range fetched something");
            Assert.All(fetched, f => Assert.True(f.Offset + f.Length <= RecordFormat.HeaderSize
                || ((f.Offset == 0 ? range.FirstRecordIndex == 0 : f.Offset >= range.Offset) && f.Offset + f.Length <= range.Offset + range.Length),
                $"fetched {f} outside the header and {range}"));

            using var seekable = new RecordDecryptStream(new MemoryStream(ciphertext), key);
            seekable.Position = offset;
            var slice = new byte[count];
            seekable.ReadExactly(slice);
            Assert.Equal(plaintext.AsSpan(offset, count).ToArray(), slice);
        }, iter: 60, threads: 1);
    }

    [Fact]
    public void Any_single_bit_flip_is_refused_at_its_record_and_nothing_from_there_on_is_released()
    {
        var cases =
            from encrypted in Encrypted
            from bit in Gen.Long[0, (encrypted.Ciphertext.Length * 8L) - 1]
            select (encrypted.Plaintext, encrypted.Ciphertext, bit);
        cases.Sample(c =>
        {
            var (plaintext, ciphertext, bit) = c;
            var damaged = (byte[])ciphertext.Clone();
            var at = (int)(bit / 8);
            damaged[at] ^= (byte)(1 << (int)(bit % 8));
            using var key = TestData.FixedKey();
            using var output = new MemoryStream();
            var error = Record.Exception(() => RecordDecryptor.DecryptAsync(new ForwardOnlyStream(damaged), output, key, CancellationToken.None).GetAwaiter().GetResult());
            if (at < 8)
            {
                // Magic, version or record size: the header is refused before anything is decrypted.
                Assert.IsType<InvalidDataException>(error);
                Assert.Equal(0, output.Length);
                return;
            }

            // A flip in the salt changes every key, so record 0 fails; elsewhere the record holding the bit fails.
            var record = at < RecordFormat.HeaderSize ? 0 : (at - RecordFormat.HeaderSize) / RecordFormat.EncryptedRecordSize;
            var refused = Assert.IsType<RecordAuthenticationException>(error);
            Assert.Equal(record, refused.RecordIndex);
            Assert.Equal(plaintext.AsSpan(0, (int)Math.Min(plaintext.Length, (long)record * R)).ToArray(), output.ToArray());

            // A range read of any record from the damaged one on is refused too.
            var offset = (int)Math.Min(plaintext.Length, (long)record * R);
            var count = plaintext.Length - offset;
            if (count > 0)
            {
                using var rangeOutput = new MemoryStream();
                Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => RecordDecryptor.DecryptRangeAsync(
                    (o, l, _) => ValueTask.FromResult<Stream>(new MemoryStream(damaged, (int)o, (int)l, writable: false)),
                    damaged.Length, key, offset, count, rangeOutput, CancellationToken.None).GetAwaiter().GetResult());
                Assert.Equal(0, rangeOutput.Length);
            }
        }, iter: 100, threads: 1);
    }

    [Fact]
    public void Length_and_range_arithmetic_agree_for_any_size()
    {
        var cases =
            from length in Gen.OneOf(Gen.Long[0, 10L * R], Gen.Long[0, RecordFormat.MaxPlaintextLength])
            from offset in Gen.Long[0, length]
            from count in Gen.Long[0, length - offset]
            select (length, offset, count);
        cases.Sample(c =>
        {
            var (length, offset, count) = c;
            var ciphertextLength = RecordFormat.GetCiphertextLength(length);
            Assert.Equal(length, RecordFormat.GetPlaintextLength(ciphertextLength));
            var range = RecordFormat.GetCiphertextRange(offset, count, length);
            Assert.Equal(RecordFormat.GetRecordOffset(range.FirstRecordIndex), range.Offset);
            Assert.Equal(offset - (range.FirstRecordIndex * R), range.PlaintextSkip);
            Assert.InRange(range.PlaintextSkip, 0, R);
            if (count == 0)
            {
                Assert.Equal(0, range.RecordCount);
                Assert.Equal(0, range.Length);
                return;
            }

            // The records fetched hold the whole range and nothing past the file.
            var last = range.FirstRecordIndex + range.RecordCount - 1;
            Assert.Equal((offset + count - 1) / R, last);
            Assert.True(range.Offset + range.Length <= ciphertextLength);
            var plaintextInRecords = range.Length - (range.RecordCount * RecordFormat.TagSize);
            Assert.True(range.PlaintextSkip + count <= plaintextInRecords, $"{range} does not hold {count} bytes after the skip");
            Assert.True(plaintextInRecords - (range.PlaintextSkip + count) < R, "a whole record more than needed is fetched");
        }, iter: 2000, threads: 1);
    }

    /// <summary>A ciphertext source that cannot seek: the decryptor must find the last record by reading ahead.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;
    }
}
