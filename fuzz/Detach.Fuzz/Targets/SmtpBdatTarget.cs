using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Detach.Smtp;

namespace Detach.Fuzz.Targets;

/// <summary>
/// BdatReader on any byte stream that starts with a BDAT command: the chunk data, then the next commands, as the
/// session feeds them (a BDAT continues the message, any other command abandons it, an unreadable count ends the session).
/// </summary>
internal sealed class SmtpBdatTarget : FuzzTarget
{
    private const long MaxMessage = 1024 * 1024;
    private const int MaxLine = 512;

    public override string Name => "smtp-bdat";

    public override string Invariant =>
        "the message is exactly the chunks' octets up to LAST, whatever the segmentation; nothing after it is consumed; " +
        "another command abandons it; a short or broken stream is an IOException after a prefix; only a declared size over the limit gives 552";

    public override void Run(byte[] input)
    {
        if (ReadLine(input, 0, out var next) is not { } first || !IsBdat(first, out var chunk))
        {
            return;
        }

        var expected = Reference(input, next, chunk);
        RunAsync(input, next, chunk, expected, PipeReader.Create(new ReadOnlySequence<byte>(input, next, input.Length - next))).GetAwaiter().GetResult();
        RunAsync(input, next, chunk, expected, PipeReader.Create(new TricklingStream(input[next..]), new StreamPipeReaderOptions(bufferSize: 64, minimumReadSize: 1))).GetAwaiter().GetResult();
    }

    private sealed record Outcome(byte[] Message, int End, bool Complete, bool Abandoned, bool OverLimit);

    private static async Task RunAsync(byte[] input, int start, BdatChunk first, Outcome expected, PipeReader pipe)
    {
        var reader = new BdatReader(pipe, first, MaxMessage, new DataDeadline(TimeSpan.FromMinutes(1)), CancellationToken.None, (_, cancellationToken) => NextChunkAsync(pipe, cancellationToken));
        using var message = new MemoryStream();
        try
        {
            await reader.CopyToAsync(message);
        }
        catch (IOException) when (!expected.Complete)
        {
            Check(expected.Message.AsSpan().StartsWith(message.ToArray()), "bytes released before the failure are not the message's start");
            Check(reader.Abandoned == expected.Abandoned, "abandoned or not, against the reference");
            return;
        }
        catch (SmtpException) when (expected.OverLimit)
        {
            Check(reader.LimitError is { Code: 552 }, "a size over the limit without its 552");
            Check(expected.Message.AsSpan().StartsWith(message.ToArray()), "bytes released before the 552 are not the message's start");
            return;
        }

        Check(expected.Complete, $"the message was taken as complete, but the reference says {(expected.OverLimit ? "over the limit" : "not")}");
        Check(reader.IsCompleted && !reader.Abandoned, "the reader ended before the LAST chunk");
        Check(message.ToArray().AsSpan().SequenceEqual(expected.Message), "the message is not the chunks' octets");
        using var rest = new MemoryStream();
        await pipe.CopyToAsync(rest);
        Check(rest.ToArray().AsSpan().SequenceEqual(input.AsSpan(start + expected.End)), "the reader consumed bytes after the last chunk");
    }

    /// <summary>The session's part: read the next command; BDAT goes on, another command abandons, a bad line ends the session.</summary>
    private static async ValueTask<BdatChunk?> NextChunkAsync(PipeReader pipe, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await pipe.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var status = SmtpCommandReader.TryReadLine(ref buffer, MaxLine, out var line);
            if (status == LineStatus.Incomplete)
            {
                if (result.IsCompleted)
                {
                    throw new IOException("closed between chunks");
                }

                pipe.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            var text = status == LineStatus.Complete ? Encoding.Latin1.GetString(line) : null;
            pipe.AdvanceTo(buffer.Start);
            if (text is null)
            {
                throw new IOException("over-long command between chunks");
            }

            if (!text.StartsWith("BDAT", StringComparison.OrdinalIgnoreCase) || (text.Length > 4 && text[4] != ' '))
            {
                return null;
            }

            return IsBdat(text, out var chunk) ? chunk : throw new IOException("unreadable BDAT count");
        }
    }

    /// <summary>The same session, worked out on the whole input at once.</summary>
    private static Outcome Reference(byte[] input, int start, BdatChunk chunk)
    {
        var message = new MemoryStream();
        var position = start;
        long declared = 0;
        while (true)
        {
            declared += chunk.Size;
            var available = (int)Math.Min(chunk.Size, input.Length - position);
            message.Write(input, position, available);
            position += available;
            if (declared > MaxMessage)
            {
                // The reader counts the octets as they come: some of an oversized chunk may be released before the 552.
                return new Outcome(message.ToArray(), -1, false, false, true);
            }

            if (available < chunk.Size)
            {
                return new Outcome(message.ToArray(), -1, false, false, false);
            }

            if (chunk.Last)
            {
                return new Outcome(message.ToArray(), position - start, true, false, false);
            }

            var line = ReadLine(input, position, out position);
            if (line is null || !line.StartsWith("BDAT", StringComparison.OrdinalIgnoreCase) || (line.Length > 4 && line[4] != ' ') || !IsBdat(line, out chunk))
            {
                var abandoned = line is not null && (!line.StartsWith("BDAT", StringComparison.OrdinalIgnoreCase) || (line.Length > 4 && line[4] != ' '));
                return new Outcome(message.ToArray(), -1, false, abandoned, false);
            }
        }
    }

    private static bool IsBdat(string line, out BdatChunk chunk)
    {
        chunk = default;
        return line.Length >= 5 && line.StartsWith("BDAT ", StringComparison.OrdinalIgnoreCase) && BdatChunk.TryParse(line[5..].Trim(' '), out chunk);
    }

    /// <summary>The line at <paramref name="start"/> (less CR LF) if it ends within the input and the 512-octet limit.</summary>
    private static string? ReadLine(byte[] input, int start, out int next)
    {
        next = start;
        var lf = Array.IndexOf(input, (byte)'\n', start);
        if (lf < 0)
        {
            return null;
        }

        next = lf + 1;
        var length = lf - start;
        var cr = length > 0 && input[lf - 1] == '\r';
        if (length + (cr ? 1 : 2) > MaxLine)
        {
            return null;
        }

        return Encoding.Latin1.GetString(input, start, cr ? length - 1 : length);
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("one-chunk", "BDAT 14 LAST\r\nSubject: x\r\n\r\nQUIT\r\n"u8.ToArray()),
        ("two-chunks", "BDAT 5\r\nhelloBDAT 7 LAST\r\n, world\r\nQUIT\r\n"u8.ToArray()),
        ("empty-last", "BDAT 3\r\nabcBDAT 0 LAST\r\n"u8.ToArray()),
        ("abandoned", "BDAT 2\r\nokRSET\r\nMAIL FROM:<a@b>\r\n"u8.ToArray()),
        ("short", "BDAT 100 LAST\r\nnot enough"u8.ToArray()),
        ("bad-count", "BDAT 1\r\nxBDAT ten\r\n"u8.ToArray()),
    ];
}
