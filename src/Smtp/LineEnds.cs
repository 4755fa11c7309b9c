namespace Detach.Smtp;

/// <summary>
/// Line-ending repair for what goes to a next hop, so no next hop sees a line end, or the end of data, where we did
/// not (SMTP smuggling): a bare LF becomes CRLF, and in DATA a dot that follows any CR or LF is doubled. A bare CR
/// stays data (a CRLF reader, Postfix's, sees it inside its line, as we did), but a reader that ends lines at CR
/// never finds a lone dot after one.
/// </summary>
internal static class LineEnds
{
    /// <summary>Room <see cref="Normalise"/> may need in its destination for <paramref name="sourceLength"/> source bytes.</summary>
    public static int MaxOutput(int sourceLength) => 2 * sourceLength;

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> (<see cref="MaxOutput"/> bytes of room) with
    /// each bare LF made CRLF and, with <paramref name="stuffDots"/> (DATA), a dot doubled at the start of a line in any
    /// reading: after a CR or an LF. <paramref name="afterCr"/> and <paramref name="lineStart"/> carry the state from one
    /// source to the next (start with false, true). Returns the bytes written.
    /// </summary>
    public static int Normalise(ReadOnlySpan<byte> source, Span<byte> destination, ref bool afterCr, ref bool lineStart, bool stuffDots)
    {
        int written = 0;
        int pos = 0;
        while (pos < source.Length)
        {
            if (lineStart)
            {
                lineStart = false;
                if (stuffDots && source[pos] == (byte)'.')
                {
                    destination[written++] = (byte)'.';
                }
            }

            int next = source[pos..].IndexOfAny((byte)'\r', (byte)'\n');
            int end = next < 0 ? source.Length : pos + next;
            if (end > pos)
            {
                source[pos..end].CopyTo(destination[written..]);
                written += end - pos;
                pos = end;
                afterCr = false;
            }

            if (next < 0)
            {
                break;
            }

            byte ending = source[pos++];
            if (ending == (byte)'\n' && !afterCr)
            {
                destination[written++] = (byte)'\r';
            }

            destination[written++] = ending;
            afterCr = ending == (byte)'\r';
            lineStart = true;
        }

        return written;
    }

    /// <summary>What ends the last line if the message did not: LF after a CR, CRLF after anything else.</summary>
    public static ReadOnlySpan<byte> LastLineEnding(bool afterCr, bool lineStart) =>
        afterCr ? "\n"u8 : lineStart ? [] : "\r\n"u8;
}
