using System.Security.Cryptography;

namespace Detach.Crypto;

/// <summary>The fixed 40-byte header: "DETACH", version, log2(record size), HKDF salt.</summary>
internal static class RecordHeader
{
    public const byte Version = 1;
    public const byte RecordSizeLog2 = 16;

    private static ReadOnlySpan<byte> Magic => "DETACH"u8;

    /// <summary>Writes a header with a fresh random salt (or the given one, for test vectors).</summary>
    public static void Write(Span<byte> header, ReadOnlySpan<byte> salt)
    {
        Magic.CopyTo(header);
        header[6] = Version;
        header[7] = RecordSizeLog2;
        var saltSpan = header.Slice(8, RecordFormat.SaltSize);
        if (salt.IsEmpty)
        {
            RandomNumberGenerator.Fill(saltSpan);
        }
        else
        {
            if (salt.Length != RecordFormat.SaltSize)
            {
                throw new ArgumentException($"The salt must be {RecordFormat.SaltSize} bytes.", nameof(salt));
            }

            salt.CopyTo(saltSpan);
        }
    }

    /// <summary>
    /// Checks what can be checked without the key; the salt (and the whole header) is authenticated
    /// by every record's tag.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> header)
    {
        if (!header[..6].SequenceEqual(Magic))
        {
            throw new InvalidDataException("The data is not a Detach ciphertext (bad magic).");
        }

        if (header[6] != Version)
        {
            throw new InvalidDataException("The Detach ciphertext has an unsupported version.");
        }

        if (header[7] != RecordSizeLog2)
        {
            throw new InvalidDataException("The Detach ciphertext has an unsupported record size.");
        }
    }
}
