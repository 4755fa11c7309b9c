namespace Detach.Vault.Storage;

/// <summary>Unsigned LEB128 varints as multiformats and CAR use them (at most 9 bytes, 63 bits).</summary>
internal static class Varint
{
    public const int MaxLength = 9;

    public static int GetLength(ulong value)
    {
        var length = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            length++;
        }
        return length;
    }

    public static int Write(ulong value, Span<byte> destination)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a minimally encoded varint; false when truncated, too long or not minimal.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int consumed)
    {
        value = 0;
        consumed = 0;
        for (var i = 0; i < source.Length && i < MaxLength; i++)
        {
            var b = source[i];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                // The multiformats spec forbids trailing zero groups: one value, one encoding.
                if (b == 0 && i > 0)
                {
                    return false;
                }
                consumed = i + 1;
                return true;
            }
        }
        value = 0;
        return false;
    }
}
