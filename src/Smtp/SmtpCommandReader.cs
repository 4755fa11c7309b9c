using System.Buffers;

namespace Detach.Smtp;

internal enum LineStatus
{
    Incomplete,
    Complete,

    /// <summary>The line is over the limit; the bytes up to here were consumed, the rest up to LF must be skipped.</summary>
    TooLongPartial,

    /// <summary>The line is over the limit and was consumed through its LF.</summary>
    TooLongComplete,
}

/// <summary>
/// Cuts command lines out of the input, Kestrel style: consumes nothing until a whole line is there,
/// never buffers more than the line limit. A line ends at LF; a CR before it is dropped.
/// </summary>
internal static class SmtpCommandReader
{
    /// <param name="maxLength">Longest line accepted, CRLF included (RFC 5321: 512).</param>
    public static LineStatus TryReadLine(ref ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> line)
    {
        SequencePosition? lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            line = default;
            if (buffer.Length > maxLength)
            {
                buffer = buffer.Slice(buffer.End);
                return LineStatus.TooLongPartial;
            }

            return LineStatus.Incomplete;
        }

        line = buffer.Slice(0, lf.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, lf.Value));
        long withCrlf = line.Length + 1 + (EndsWithCr(line) ? 0 : 1);
        if (withCrlf > maxLength)
        {
            return LineStatus.TooLongComplete;
        }

        if (EndsWithCr(line))
        {
            line = line.Slice(0, line.Length - 1);
        }

        return LineStatus.Complete;
    }

    /// <summary>Skips the rest of an over-long line; true once its LF was consumed.</summary>
    public static bool SkipToLineEnd(ref ReadOnlySequence<byte> buffer)
    {
        SequencePosition? lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            buffer = buffer.Slice(buffer.End);
            return false;
        }

        buffer = buffer.Slice(buffer.GetPosition(1, lf.Value));
        return true;
    }

    private static bool EndsWithCr(ReadOnlySequence<byte> line)
    {
        if (line.IsEmpty)
        {
            return false;
        }

        if (line.IsSingleSegment)
        {
            return line.FirstSpan[^1] == (byte)'\r';
        }

        return line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r';
    }
}
