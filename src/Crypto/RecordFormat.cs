namespace Detach.Crypto;

/// <summary>
/// Sizes of the encrypted format and the arithmetic between plaintext and ciphertext offsets
/// (see docs/format.md). No index is stored: every length and offset follows from the others.
/// </summary>
public static class RecordFormat
{
    /// <summary>Plaintext bytes per record; only the last record may be shorter.</summary>
    public const int RecordSize = 64 * 1024;

    /// <summary>HMAC-SHA256 tag after each record's ciphertext.</summary>
    public const int TagSize = 32;

    /// <summary>Ciphertext bytes of a full record, tag included.</summary>
    public const int EncryptedRecordSize = RecordSize + TagSize;

    /// <summary>Random bytes in the header, used as the HKDF salt.</summary>
    public const int SaltSize = 32;

    /// <summary>Magic (6) + version (1) + log2 of the record size (1) + salt (32).</summary>
    public const int HeaderSize = 8 + SaltSize;

    /// <summary>
    /// Largest plaintext the format accepts (4 EiB): keeps every ciphertext length in a long and every
    /// CTR block number far below 2^64.
    /// </summary>
    public const long MaxPlaintextLength = 1L << 62;

    /// <summary>Number of records for a plaintext length; an empty plaintext still has one (empty) record.</summary>
    public static long GetRecordCount(long plaintextLength)
    {
        CheckPlaintextLength(plaintextLength);
        return plaintextLength == 0 ? 1 : ((plaintextLength - 1) / RecordSize) + 1;
    }

    /// <summary>Ciphertext length (header and tags included) for a plaintext length.</summary>
    public static long GetCiphertextLength(long plaintextLength) =>
        HeaderSize + plaintextLength + (GetRecordCount(plaintextLength) * TagSize);

    /// <summary>
    /// Plaintext length for a ciphertext length; <see cref="InvalidDataException"/> if no plaintext
    /// encrypts to that many bytes (which means the ciphertext was truncated or extended).
    /// </summary>
    public static long GetPlaintextLength(long ciphertextLength)
    {
        if (ciphertextLength < HeaderSize + TagSize)
        {
            throw new InvalidDataException("The ciphertext is shorter than a header and one record.");
        }

        long body = ciphertextLength - HeaderSize;
        long fullRecords = body / EncryptedRecordSize;
        long rest = body % EncryptedRecordSize;

        // A short final record holds at least one byte, except the single empty record of an empty plaintext.
        if (rest != 0 && (rest < TagSize || (rest == TagSize && fullRecords > 0)))
        {
            throw new InvalidDataException("The ciphertext length does not match any whole number of records.");
        }

        long plaintextLength = (fullRecords * RecordSize) + (rest == 0 ? 0 : rest - TagSize);
        if (plaintextLength > MaxPlaintextLength)
        {
            throw new InvalidDataException("The ciphertext is longer than the format allows.");
        }

        return plaintextLength;
    }

    /// <summary>
    /// The records needed to decrypt <paramref name="count"/> plaintext bytes at <paramref name="plaintextOffset"/>
    /// of a plaintext of <paramref name="plaintextLength"/> bytes. Offsets are absolute in the ciphertext
    /// (they count the header); the header itself, bytes [0, <see cref="HeaderSize"/>), is needed as well.
    /// </summary>
    public static CiphertextRange GetCiphertextRange(long plaintextOffset, long count, long plaintextLength)
    {
        long recordCount = GetRecordCount(plaintextLength);
        ArgumentOutOfRangeException.ThrowIfNegative(plaintextOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (plaintextOffset > plaintextLength || count > plaintextLength - plaintextOffset)
        {
            throw new ArgumentOutOfRangeException(nameof(count), "The range goes past the end of the plaintext.");
        }

        long first = Math.Min(plaintextOffset / RecordSize, recordCount - 1);
        int skip = (int)(plaintextOffset - (first * RecordSize));
        long offset = GetRecordOffset(first);
        if (count == 0)
        {
            return new CiphertextRange(first, 0, offset, 0, skip);
        }

        long last = (plaintextOffset + count - 1) / RecordSize;
        long end = Math.Min(GetRecordOffset(last + 1), GetCiphertextLength(plaintextLength));
        return new CiphertextRange(first, last - first + 1, offset, end - offset, skip);
    }

    /// <summary>Absolute ciphertext offset where record <paramref name="recordIndex"/> starts.</summary>
    public static long GetRecordOffset(long recordIndex) => HeaderSize + (recordIndex * EncryptedRecordSize);

    private static void CheckPlaintextLength(long plaintextLength)
    {
        if (plaintextLength is < 0 or > MaxPlaintextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(plaintextLength), "The plaintext length is negative or larger than the format allows.");
        }
    }
}

/// <summary>
/// The ciphertext bytes holding records [<see cref="FirstRecordIndex"/>, +<see cref="RecordCount"/>):
/// fetch [<see cref="Offset"/>, +<see cref="Length"/>) plus the header, decrypt, then drop
/// <see cref="PlaintextSkip"/> bytes of the first record's plaintext.
/// </summary>
/// <param name="FirstRecordIndex">Index of the first record needed.</param>
/// <param name="RecordCount">Number of records needed (0 for an empty range).</param>
/// <param name="Offset">Absolute ciphertext offset of the first record.</param>
/// <param name="Length">Ciphertext bytes of those records, tags included.</param>
/// <param name="PlaintextSkip">Plaintext bytes to skip at the start of the first record.</param>
public readonly record struct CiphertextRange(long FirstRecordIndex, long RecordCount, long Offset, long Length, int PlaintextSkip);
