using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Detach.Fuzz.Oracles;

/// <summary>
/// docs/format.md written out again from the text alone (HKDF, AES-ECB over counter blocks, HMAC), to check
/// src/Crypto against: which records of a ciphertext authenticate, and their plaintext.
/// </summary>
internal sealed class ReferenceFormat
{
    public const int HeaderSize = 40, TagSize = 32, RecordSize = 65536, EncryptedRecordSize = RecordSize + TagSize;

    private readonly byte[] _encryptionKey, _macKey, _nonce, _header;

    public ReferenceFormat(ReadOnlySpan<byte> linkKey, ReadOnlySpan<byte> vaultKey, ReadOnlySpan<byte> header)
    {
        byte[] prk = HKDF.Extract(HashAlgorithmName.SHA256, [.. linkKey, .. vaultKey], header[8..HeaderSize].ToArray());
        _encryptionKey = HKDF.Expand(HashAlgorithmName.SHA256, prk, 32, Encoding.ASCII.GetBytes("Detach v1 AES-256-CTR key"));
        _macKey = HKDF.Expand(HashAlgorithmName.SHA256, prk, 32, Encoding.ASCII.GetBytes("Detach v1 HMAC-SHA256 key"));
        _nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, 8, Encoding.ASCII.GetBytes("Detach v1 CTR nonce"));
        _header = header[..HeaderSize].ToArray();
    }

    public static bool IsValidHeader(ReadOnlySpan<byte> data) =>
        data.Length >= HeaderSize && data[..6].SequenceEqual("DETACH"u8) && data[6] == 1 && data[7] == 16;

    public static byte[] Header(ReadOnlySpan<byte> salt) => [.. "DETACH"u8, 1, 16, .. salt];

    public byte[] Tag(long index, bool last, ReadOnlySpan<byte> ciphertext)
    {
        var input = new byte[HeaderSize + 9 + ciphertext.Length];
        _header.CopyTo(input, 0);
        BinaryPrimitives.WriteInt64BigEndian(input.AsSpan(HeaderSize), index);
        input[HeaderSize + 8] = last ? (byte)1 : (byte)0;
        ciphertext.CopyTo(input.AsSpan(HeaderSize + 9));
        return HMACSHA256.HashData(_macKey, input);
    }

    /// <summary>AES-256-CTR of record <paramref name="index"/>: the same call encrypts and decrypts.</summary>
    public byte[] Crypt(long index, ReadOnlySpan<byte> data)
    {
        var blocks = (data.Length + 15) / 16;
        var counters = new byte[blocks * 16];
        for (var j = 0; j < blocks; j++)
        {
            _nonce.CopyTo(counters, j * 16);
            BinaryPrimitives.WriteUInt64BigEndian(counters.AsSpan((j * 16) + 8), (ulong)((index * 4096) + j));
        }

        using var aes = Aes.Create();
        aes.Key = _encryptionKey;
        var stream = aes.EncryptEcb(counters, PaddingMode.None);
        var output = data.ToArray();
        for (var k = 0; k < output.Length; k++)
        {
            output[k] ^= stream[k];
        }

        return output;
    }

    public byte[] Encrypt(ReadOnlySpan<byte> plaintext)
    {
        var records = Math.Max(1, (plaintext.Length + RecordSize - 1) / RecordSize);
        var output = new List<byte>(_header);
        for (var i = 0; i < records; i++)
        {
            var slice = plaintext.Slice(i * RecordSize, Math.Min(RecordSize, plaintext.Length - (i * RecordSize)));
            var ciphertext = Crypt(i, slice);
            output.AddRange(ciphertext);
            output.AddRange(Tag(i, i == records - 1, ciphertext));
        }

        return [.. output];
    }

    /// <summary>
    /// Reading in order (format.md, "Sequential reading"): records are cut every 65568 bytes and the last piece is the
    /// final record. Returns the plaintext of the records before the first whose tag fails, and that record's index
    /// (or -1 when all authenticate).
    /// </summary>
    public byte[] DecryptSequential(ReadOnlySpan<byte> ciphertext, out long failedRecord)
    {
        var body = ciphertext[HeaderSize..];
        var records = body.Length == 0 ? 1 : (body.Length + EncryptedRecordSize - 1) / EncryptedRecordSize;
        var plaintext = new List<byte>();
        for (var i = 0; i < records; i++)
        {
            var record = body.Slice(i * EncryptedRecordSize, Math.Min(EncryptedRecordSize, body.Length - (i * EncryptedRecordSize)));
            if (!Authentic(i, i == records - 1, record))
            {
                failedRecord = i;
                return [.. plaintext];
            }

            plaintext.AddRange(Crypt(i, record[..^TagSize]));
        }

        failedRecord = -1;
        return [.. plaintext];
    }

    public bool Authentic(long index, bool last, ReadOnlySpan<byte> record) =>
        record.Length >= TagSize && Tag(index, last, record[..^TagSize]).AsSpan().SequenceEqual(record[^TagSize..]);
}
