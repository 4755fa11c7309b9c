namespace Detach.Smtp;

/// <summary>Line-ending repair for what goes to a next hop: every line ends in CRLF there (no SMTP smuggling).</summary>
internal static class LineEnds
{
    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> (room for twice the source) with each bare LF
    /// made CRLF. <paramref name="afterCr"/> says whether the byte before <paramref name="source"/> was a CR, and is
    /// updated for the next call. Returns the bytes written.
    /// </summary>
    public static int ToCrlf(ReadOnlySpan<byte> source, Span<byte> destination, ref bool afterCr)
    {
        int written = 0;
        int from = 0;
        while (from < source.Length)
        {
            int lf = source[from..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                source[from..].CopyTo(destination[written..]);
                written += source.Length - from;
                break;
            }

            lf += from;
            bool crBefore = lf > 0 ? source[lf - 1] == (byte)'\r' : afterCr;
            source[from..lf].CopyTo(destination[written..]);
            written += lf - from;
            if (!crBefore)
            {
                destination[written++] = (byte)'\r';
            }

            destination[written++] = (byte)'\n';
            from = lf + 1;
        }

        if (!source.IsEmpty)
        {
            afterCr = source[^1] == (byte)'\r';
        }

        return written;
    }
}
