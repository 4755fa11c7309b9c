using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Detach.Crypto;

/// <summary>
/// Seals and opens single records in place for one file (one header, hence one salt and one key set).
/// Encryption and MAC run in one pass over small slices so each slice is still in L1 when HMAC reads it.
/// </summary>
internal sealed class RecordCipher : IDisposable
{
    // Slice of a record that goes through AES-CTR then HMAC (or HMAC then AES-CTR) before the next.
    internal const int SliceSize = 16 * 1024;

    private const int BlocksPerRecord = RecordFormat.RecordSize / AesCtr.BlockSize;
    private const int NonceSize = 8;

    private readonly byte[] _header = new byte[RecordFormat.HeaderSize];
    private readonly AesCtr _ctr;
    private readonly IncrementalHash _mac;
    private readonly UInt128 _counterBase;

    public RecordCipher(FileKey key, ReadOnlySpan<byte> header)
    {
        ArgumentNullException.ThrowIfNull(key);
        RecordHeader.Validate(header);
        header[..RecordFormat.HeaderSize].CopyTo(_header);

        Span<byte> secrets = stackalloc byte[(2 * FileKey.KeySize) + 32 + 32 + 32 + NonceSize];
        try
        {
            var ikm = secrets[..(2 * FileKey.KeySize)];
            var prk = secrets.Slice(64, 32);
            var encryptionKey = secrets.Slice(96, 32);
            var macKey = secrets.Slice(128, 32);
            var nonce = secrets.Slice(160, NonceSize);
            key.LinkKey.CopyTo(ikm);
            key.VaultKey.CopyTo(ikm[FileKey.KeySize..]);
            HKDF.Extract(HashAlgorithmName.SHA256, ikm, _header.AsSpan(8, RecordFormat.SaltSize), prk);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, encryptionKey, KeyDerivationLabels.EncryptionKey);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, macKey, KeyDerivationLabels.MacKey);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, nonce, KeyDerivationLabels.CounterNonce);
            _ctr = AesCtr.Create(encryptionKey);
            _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, macKey);
            _counterBase = (UInt128)BinaryPrimitives.ReadUInt64BigEndian(nonce) << 64;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secrets);
        }
    }

    /// <summary>The 40-byte header this cipher's keys were derived from.</summary>
    public ReadOnlySpan<byte> Header => _header;

    /// <summary>
    /// Encrypts <c>record[..length]</c> in place and writes the tag to <c>record[length..length+TagSize]</c>.
    /// </summary>
    public void Seal(Span<byte> record, int length, long index, bool last)
    {
        CheckRecord(record, length, index);
        StartMac(index, last);
        var counter = CounterOf(index);
        for (int offset = 0; offset < length; offset += SliceSize)
        {
            var slice = record[offset..Math.Min(length, offset + SliceSize)];
            _ctr.Transform(counter + (uint)(offset / AesCtr.BlockSize), slice);
            _mac.AppendData(slice);
        }

        _mac.GetHashAndReset(record.Slice(length, RecordFormat.TagSize));
    }

    /// <summary>
    /// Verifies the tag at <c>record[length..]</c> and decrypts <c>record[..length]</c> in place.
    /// On failure returns false with the record zeroed, so no unauthenticated plaintext survives.
    /// </summary>
    public bool TryOpen(Span<byte> record, int length, long index, bool last)
    {
        CheckRecord(record, length, index);
        StartMac(index, last);
        var counter = CounterOf(index);
        for (int offset = 0; offset < length; offset += SliceSize)
        {
            var slice = record[offset..Math.Min(length, offset + SliceSize)];
            _mac.AppendData(slice);
            _ctr.Transform(counter + (uint)(offset / AesCtr.BlockSize), slice);
        }

        Span<byte> tag = stackalloc byte[RecordFormat.TagSize];
        _mac.GetHashAndReset(tag);
        if (CryptographicOperations.FixedTimeEquals(tag, record.Slice(length, RecordFormat.TagSize)))
        {
            return true;
        }

        CryptographicOperations.ZeroMemory(record[..length]);
        return false;
    }

    public void Dispose()
    {
        _ctr.Dispose();
        _mac.Dispose();
    }

    private static void CheckRecord(Span<byte> record, int length, long index)
    {
        if ((uint)length > RecordFormat.RecordSize || record.Length < length + RecordFormat.TagSize)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, RecordFormat.MaxPlaintextLength / RecordFormat.RecordSize);
    }

    // Counter block of the record's first AES block: nonce || (index * 4096 + block), big-endian.
    // Record indices are capped far below 2^52, so the low half never wraps into the nonce.
    private UInt128 CounterOf(long index) => _counterBase + ((ulong)index * BlocksPerRecord);

    private void StartMac(long index, bool last)
    {
        Span<byte> position = stackalloc byte[9];
        BinaryPrimitives.WriteUInt64BigEndian(position, (ulong)index);
        position[8] = last ? (byte)1 : (byte)0;
        _mac.AppendData(_header);
        _mac.AppendData(position);
    }
}

/// <summary>HKDF-SHA256 "info" labels; changing any of them changes the format (see docs/format.md).</summary>
internal static class KeyDerivationLabels
{
    public static ReadOnlySpan<byte> EncryptionKey => "Detach v1 AES-256-CTR key"u8;

    public static ReadOnlySpan<byte> MacKey => "Detach v1 HMAC-SHA256 key"u8;

    public static ReadOnlySpan<byte> CounterNonce => "Detach v1 CTR nonce"u8;
}
