using System.Buffers.Binary;
using System.Security.Cryptography;
using Detach.Crypto;
using Detach.Fuzz.Oracles;

namespace Detach.Fuzz.Targets;

/// <summary>
/// The record decryptor on arbitrary ciphertext under a fixed key: read in order (non-seekable), through the seekable
/// stream, and by range. Input: 2 bytes range offset and 2 bytes range count (in units of 3 bytes), then the ciphertext.
/// </summary>
internal sealed class RecordDecryptTarget : FuzzTarget
{
    private static readonly byte[] LinkKey = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly byte[] VaultKey = [.. Enumerable.Range(32, 32).Select(i => (byte)i)];

    public override string Name => "record-decrypt";

    public override string Invariant =>
        "released plaintext is exactly that of the records before the first whose tag fails (checked against an independent " +
        "implementation of docs/format.md), which is the RecordAuthenticationException's index; a range gives exactly its slice when its records authenticate";

    public override void Run(byte[] input)
    {
        if (input.Length < 4)
        {
            return;
        }

        var ciphertext = input[4..];
        using var key = new FileKey(LinkKey, VaultKey);
        if (!ReferenceFormat.IsValidHeader(ciphertext))
        {
            Expect(() => Sequential(ciphertext, key), [], typeof(InvalidDataException), typeof(EndOfStreamException));
            return;
        }

        var reference = new ReferenceFormat(LinkKey, VaultKey, ciphertext);
        var expected = reference.DecryptSequential(ciphertext, out var failed);
        Expect(() => Sequential(ciphertext, key), expected, failed);

        long plaintextLength;
        try
        {
            plaintextLength = RecordFormat.GetPlaintextLength(ciphertext.Length);
        }
        catch (InvalidDataException)
        {
            Expect(() => Seekable(ciphertext, key), [], typeof(InvalidDataException));
            return;
        }

        // With a possible length, the records are cut where sequential reading cuts them.
        Expect(() => Seekable(ciphertext, key), expected, failed);
        CheckRange(input, ciphertext, key, reference, plaintextLength);
    }

    private static void CheckRange(byte[] input, byte[] ciphertext, FileKey key, ReferenceFormat reference, long plaintextLength)
    {
        var offset = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(input) * 3L, plaintextLength);
        var count = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(2)) * 3L, plaintextLength - offset);
        var range = RecordFormat.GetCiphertextRange(offset, count, plaintextLength);
        Check(count == 0 ? range.RecordCount == 0 : range.FirstRecordIndex == offset / RecordFormat.RecordSize
            && range.FirstRecordIndex + range.RecordCount - 1 == (offset + count - 1) / RecordFormat.RecordSize, "the range maps to the wrong records");
        Check(range.Offset == RecordFormat.GetRecordOffset(range.FirstRecordIndex) && range.Offset + range.Length <= ciphertext.Length, "the range's ciphertext lies outside the file");

        // The records the range needs, each judged by its place in a file of this length.
        var records = RecordFormat.GetRecordCount(plaintextLength);
        var expected = new List<byte>();
        long failed = -1;
        for (var i = range.FirstRecordIndex; i < range.FirstRecordIndex + range.RecordCount; i++)
        {
            var start = (int)RecordFormat.GetRecordOffset(i);
            var record = ciphertext.AsSpan(start, (int)Math.Min(RecordFormat.EncryptedRecordSize, ciphertext.Length - start));
            if (!reference.Authentic(i, i == records - 1, record))
            {
                failed = i;
                break;
            }

            expected.AddRange(reference.Crypt(i, record[..^RecordFormat.TagSize]));
        }

        var slice = expected.Skip(range.PlaintextSkip).Take((int)count).ToArray();
        Expect(() =>
        {
            using var output = new MemoryStream();
            try
            {
                RecordDecryptor.DecryptRangeAsync(
                    (o, l, _) => ValueTask.FromResult<Stream>(new MemoryStream(ciphertext, (int)o, (int)l, writable: false)),
                    ciphertext.Length, key, offset, count, output, CancellationToken.None).GetAwaiter().GetResult();
            }
            finally
            {
                _released = output.ToArray();
            }
        }, slice, failed);
    }

    [ThreadStatic]
    private static byte[]? _released;

    private static void Sequential(byte[] ciphertext, FileKey key)
    {
        using var output = new MemoryStream();
        try
        {
            RecordDecryptor.DecryptAsync(new TricklingStream(ciphertext), output, key, CancellationToken.None).GetAwaiter().GetResult();
        }
        finally
        {
            _released = output.ToArray();
        }
    }

    private static void Seekable(byte[] ciphertext, FileKey key)
    {
        using var output = new MemoryStream();
        try
        {
            using var stream = new RecordDecryptStream(new MemoryStream(ciphertext, writable: false), key);
            stream.CopyTo(output);
        }
        finally
        {
            _released = output.ToArray();
        }
    }

    /// <summary>Runs <paramref name="decrypt"/>: exactly <paramref name="expected"/> released, then success or the failure at <paramref name="failed"/>.</summary>
    private static void Expect(Action decrypt, byte[] expected, long failed)
    {
        try
        {
            decrypt();
            Check(failed < 0, $"record {failed} fails its tag, but decryption succeeded");
        }
        catch (RecordAuthenticationException e)
        {
            Check(failed >= 0, $"every record authenticates, but decryption failed at record {e.RecordIndex}");
            Check(e.RecordIndex == failed, $"failed at record {e.RecordIndex}, the first bad one is {failed}");
            Check(_released!.Length <= expected.Length, "plaintext was released from a record whose tag fails");
        }

        Check(_released!.AsSpan().SequenceEqual(expected), "the plaintext released is not exactly that of the authentic records before the failure");
    }

    private static void Expect(Action decrypt, byte[] expected, params Type[] errors)
    {
        try
        {
            decrypt();
            Check(false, "an unreadable ciphertext was decrypted");
        }
        catch (Exception e) when (errors.Contains(e.GetType()))
        {
            Check(_released!.Length == expected.Length, "plaintext was released before the ciphertext was refused");
        }
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var reference = new ReferenceFormat(LinkKey, VaultKey, ReferenceFormat.Header([.. Enumerable.Range(64, 32).Select(i => (byte)i)]));
        foreach (var (size, offset, count) in new[] { (0, 0, 0), (1, 0, 1), (100, 10, 20), (3000, 1, 999), (65536, 21000, 100), (65600, 21845, 10) })
        {
            var plaintext = Enumerable.Range(0, size).Select(k => (byte)(k % 251)).ToArray();
            var prefix = new byte[4];
            BinaryPrimitives.WriteUInt16BigEndian(prefix, (ushort)offset);
            BinaryPrimitives.WriteUInt16BigEndian(prefix.AsSpan(2), (ushort)count);
            yield return ($"plaintext-{size}", [.. prefix, .. reference.Encrypt(plaintext)]);
        }

        yield return ("not-a-header", [0, 0, 0, 0, .. "DETACH"u8, 2, 16]);
        yield return ("random", RandomNumberGenerator.GetBytes(200));
    }
}
