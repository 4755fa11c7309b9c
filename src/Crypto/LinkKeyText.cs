using System.Buffers.Text;

namespace Detach.Crypto;

/// <summary>
/// The text form of a link key in a URL fragment: unpadded base64url, exactly 43 characters.
/// Parsing is strict (one canonical spelling per key) and its errors never echo the input.
/// </summary>
public static class LinkKeyText
{
    /// <summary>Length of the text form of a <see cref="FileKey.KeySize"/>-byte key.</summary>
    public const int Length = 43;

    /// <summary>Encodes a 32-byte link key.</summary>
    public static string Encode(ReadOnlySpan<byte> key)
    {
        if (key.Length != FileKey.KeySize)
        {
            throw new ArgumentException($"A link key is {FileKey.KeySize} bytes.", nameof(key));
        }

        return Base64Url.EncodeToString(key);
    }

    /// <summary>Decodes the text form; throws <see cref="FormatException"/> for anything but the canonical form.</summary>
    public static byte[] Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var key = new byte[FileKey.KeySize];
        var error = Decode(text, key);
        if (error is not null)
        {
            throw new FormatException(error);
        }

        return key;
    }

    /// <summary>Decodes the text form; false (and an empty array) for anything but the canonical form.</summary>
    public static bool TryParse(string? text, out byte[] key)
    {
        var decoded = new byte[FileKey.KeySize];
        if (text is null || Decode(text, decoded) is not null)
        {
            key = [];
            return false;
        }

        key = decoded;
        return true;
    }

    // Returns an error message (without any of the input) or null on success.
    private static string? Decode(string text, Span<byte> key)
    {
        if (text.Length != Length)
        {
            return $"A link key must be exactly {Length} base64url characters.";
        }

        int acc = 0;
        int bits = 0;
        int written = 0;
        foreach (var c in text)
        {
            int value = SextetOf(c);
            if (value < 0)
            {
                CryptographicZero(key);
                return "A link key may contain only the base64url characters A-Z, a-z, 0-9, '-' and '_', without padding.";
            }

            acc = (acc << 6) | value;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                key[written++] = (byte)(acc >> bits);
                acc &= (1 << bits) - 1;
            }
        }

        // 43 characters carry 258 bits: the last two must be zero, or two spellings would decode to one key.
        if (acc != 0)
        {
            CryptographicZero(key);
            return "A link key is not in canonical base64url form.";
        }

        return null;
    }

    private static void CryptographicZero(Span<byte> key) => System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);

    private static int SextetOf(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '-' => 62,
        '_' => 63,
        _ => -1,
    };
}
