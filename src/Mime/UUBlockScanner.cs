using System.Buffers;

namespace Detach.Mime;

/// <summary>A uuencoded file inside a text body: "begin 644 name" up to and including the "end" line.</summary>
/// <param name="Start">Offset of the begin line, relative to the start of the body.</param>
/// <param name="End">Offset just past the end line (its line ending included when present).</param>
public sealed record UUBlock(long Start, long End, string FileName, bool EndsWithLineBreak);

/// <summary>
/// Finds uuencoded blocks in a text body, streaming. A block counts only when every line between "begin" and
/// "end" is a well-formed uuencode line (length character consistent with the line's length), so prose that
/// happens to start with "begin" is never taken for a file.
/// </summary>
public static class UUBlockScanner
{
    private const int MaxLine = 200;
    private const int MaxBlocks = 100;

    public static async Task<List<UUBlock>> FindAsync(Stream body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var blocks = new List<UUBlock>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);

        // Lines are looked at where they lie in the buffer; only one split across two reads is copied.
        var split = new byte[MaxLine];
        int splitLength = 0;
        bool splitTooLong = false;
        long bufferOffset = 0;
        long lineStart = 0;
        long blockStart = -1;
        string? name = null;
        int dataLines = 0;
        try
        {
            int n;
            while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                int position = 0;
                while (position < n)
                {
                    ReadOnlySpan<byte> rest = buffer.AsSpan(position, n - position);
                    int newline = rest.IndexOf((byte)'\n');
                    ReadOnlySpan<byte> line = newline < 0 ? rest : rest[..newline];
                    bool tooLong = line.Length > MaxLine;
                    if (newline < 0 || splitLength > 0 || splitTooLong)
                    {
                        int room = Math.Min(line.Length, MaxLine - splitLength);
                        line[..room].CopyTo(split.AsSpan(splitLength));
                        splitLength += room;
                        splitTooLong |= room < line.Length;
                        if (newline < 0)
                        {
                            break;
                        }

                        line = split.AsSpan(0, splitLength);
                        tooLong = splitTooLong;
                    }

                    position += newline + 1;
                    OnLine(line, tooLong, bufferOffset + position, hasLineBreak: true);
                    lineStart = bufferOffset + position;
                    splitLength = 0;
                    splitTooLong = false;
                }

                bufferOffset += n;
            }

            if (splitLength > 0 || splitTooLong)
            {
                OnLine(split.AsSpan(0, splitLength), splitTooLong, bufferOffset, hasLineBreak: false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return blocks;

        void OnLine(ReadOnlySpan<byte> line, bool tooLong, long end, bool hasLineBreak)
        {
            if (blocks.Count >= MaxBlocks)
            {
                return;
            }

            var text = line.TrimEnd("\r"u8);
            if (blockStart >= 0)
            {
                if (!tooLong && text.TrimEnd(" \t"u8).SequenceEqual("end"u8))
                {
                    if (dataLines > 0)
                    {
                        blocks.Add(new UUBlock(blockStart, end, name!, hasLineBreak));
                    }

                    blockStart = -1;
                    return;
                }

                if (!tooLong && IsDataLine(text))
                {
                    dataLines++;
                    return;
                }

                blockStart = -1; // not uuencode after all; this line may begin another block
            }

            if (!tooLong && TryParseBegin(text, out string? fileName))
            {
                blockStart = lineStart;
                name = fileName;
                dataLines = 0;
            }
        }
    }

    private static bool TryParseBegin(ReadOnlySpan<byte> text, out string? fileName)
    {
        fileName = null;
        if (!text.StartsWith("begin "u8))
        {
            return false;
        }

        var rest = text[6..];
        int space = rest.IndexOf((byte)' ');
        if (space is < 3 or > 4)
        {
            return false;
        }

        foreach (byte d in rest[..space])
        {
            if (d is < (byte)'0' or > (byte)'7')
            {
                return false;
            }
        }
        var name = rest[(space + 1)..].Trim(" \t"u8);
        if (name.IsEmpty)
        {
            return false;
        }

        fileName = Charsets.DecodeHeaderBytes(name);
        return true;
    }

    private static bool IsDataLine(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty)
        {
            return true; // a zero-length line whose single space was stripped in transit
        }

        int count = (text[0] - 32) & 63;
        if (text[0] is < 0x20 or > 0x60)
        {
            return false;
        }

        int expected = (count + 2) / 3 * 4;
        int actual = text.Length - 1;
        // Trailing spaces (zero values) are often stripped; some encoders add a check character.
        if (actual > expected + 2 || (actual < expected && !CouldBeStrippedBlanks(text, expected)))
        {
            return false;
        }

        foreach (byte c in text[1..])
        {
            if (c is < 0x20 or > 0x60)
            {
                return false;
            }
        }
        return true;
    }

    private static bool CouldBeStrippedBlanks(ReadOnlySpan<byte> text, int expected) => text.Length - 1 >= expected - 3 && text.Length > 1;

    /// <summary>A usual media type for a file name's extension (uuencoded files carry no type).</summary>
    public static string MediaTypeFor(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        string ext = Path.GetExtension(fileName).ToLowerInvariant();
        return ext switch
        {
            ".pdf" => "application/pdf",
            ".zip" => "application/zip",
            ".gif" => "image/gif",
            ".png" => "image/png",
            ".jpg" or ".jpeg" => "image/jpeg",
            ".txt" => "text/plain",
            ".htm" or ".html" => "text/html",
            ".doc" => "application/msword",
            ".xls" => "application/vnd.ms-excel",
            _ => "application/octet-stream",
        };
    }
}
