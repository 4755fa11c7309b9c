namespace Detach.Vault.Storage;

/// <summary>
/// The two multibase alphabets CIDs come in: RFC 4648 base32 lower case without padding ('b',
/// Kubo's default for CIDv1) and base58btc ('z' for CIDv1, bare for CIDv0; js-ipfs's default).
/// </summary>
internal static class Multibase
{
    private const string Base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    private const string Base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    public static string EncodeBase32(ReadOnlySpan<byte> data)
    {
        var chars = new char[(data.Length * 8 + 4) / 5];
        int buffer = 0, bits = 0, n = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                chars[n++] = Base32Alphabet[(buffer >> bits) & 31];
            }
        }
        if (bits > 0)
        {
            chars[n++] = Base32Alphabet[(buffer << (5 - bits)) & 31];
        }
        return new string(chars, 0, n);
    }

    /// <summary>Decodes base32 (either case, no padding); null when a character is outside the alphabet.</summary>
    public static byte[]? DecodeBase32(ReadOnlySpan<char> text)
    {
        var output = new byte[text.Length * 5 / 8];
        int buffer = 0, bits = 0, n = 0;
        foreach (var c in text)
        {
            var v = char.ToLowerInvariant(c) switch
            {
                >= 'a' and <= 'z' and var l => l - 'a',
                >= '2' and <= '7' and var d => d - '2' + 26,
                _ => -1,
            };
            if (v < 0)
            {
                return null;
            }
            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                output[n++] = (byte)(buffer >> bits);
            }
        }
        // Leftover bits must be zero padding, or two spellings would name one CID.
        return (buffer & ((1 << bits) - 1)) == 0 ? output : null;
    }

    public static string EncodeBase58(ReadOnlySpan<byte> data)
    {
        var zeros = 0;
        while (zeros < data.Length && data[zeros] == 0)
        {
            zeros++;
        }
        // log(256)/log(58) ≈ 1.37 digits per byte.
        var digits = new byte[(data.Length - zeros) * 138 / 100 + 1];
        var length = 0;
        for (var i = zeros; i < data.Length; i++)
        {
            int carry = data[i];
            for (var j = 0; j < length; j++)
            {
                carry += digits[j] << 8;
                digits[j] = (byte)(carry % 58);
                carry /= 58;
            }
            while (carry > 0)
            {
                digits[length++] = (byte)(carry % 58);
                carry /= 58;
            }
        }
        var chars = new char[zeros + length];
        chars.AsSpan(0, zeros).Fill('1');
        for (var k = 0; k < length; k++)
        {
            chars[zeros + k] = Base58Alphabet[digits[length - 1 - k]];
        }
        return new string(chars);
    }

    /// <summary>Decodes base58btc; null when a character is outside the alphabet.</summary>
    public static byte[]? DecodeBase58(ReadOnlySpan<char> text)
    {
        var zeros = 0;
        while (zeros < text.Length && text[zeros] == '1')
        {
            zeros++;
        }
        // log(58)/log(256) ≈ 0.733 bytes per digit.
        var bytes = new byte[(text.Length - zeros) * 733 / 1000 + 1];
        var length = 0;
        for (var i = zeros; i < text.Length; i++)
        {
            var carry = Base58Alphabet.IndexOf(text[i], StringComparison.Ordinal);
            if (carry < 0)
            {
                return null;
            }
            for (var j = 0; j < length; j++)
            {
                carry += bytes[j] * 58;
                bytes[j] = (byte)carry;
                carry >>= 8;
            }
            while (carry > 0)
            {
                bytes[length++] = (byte)carry;
                carry >>= 8;
            }
        }
        var output = new byte[zeros + length];
        for (var k = 0; k < length; k++)
        {
            output[zeros + k] = bytes[length - 1 - k];
        }
        return output;
    }
}
