using System.IO.Pipelines;
using Detach.Smtp;

namespace Detach.Fuzz.Targets;

/// <summary>DotReader (the message after DATA) and DotWriter (what the relay client sends) on any byte stream.</summary>
internal sealed class SmtpDataTarget : FuzzTarget
{
    private const long MaxMessage = 16L * 1024 * 1024;

    public override string Name => "smtp-data";

    public override string Invariant =>
        "the message is the reference unstuffing up to the first CRLF.CRLF, whatever the segmentation; nothing after it is consumed; " +
        "no terminator means an IOException after a prefix of it; DotWriter's stuffing reads back to the same message (line ends made CRLF) and has no line '.' alone";

    public override void Run(byte[] input) => RunAsync(input).GetAwaiter().GetResult();

    private static async Task RunAsync(byte[] input)
    {
        var expected = Unstuff(input, out var end);
        await CheckReadAsync(PipeReader.Create(new System.Buffers.ReadOnlySequence<byte>(input)), input, expected, end);
        await CheckReadAsync(PipeReader.Create(new TricklingStream(input), new StreamPipeReaderOptions(bufferSize: 64, minimumReadSize: 1)), input, expected, end);
        if (end >= 0)
        {
            await CheckStuffingAsync(expected);
        }
    }

    private static async Task CheckReadAsync(PipeReader pipe, byte[] input, byte[] expected, int end)
    {
        var reader = new DotReader(pipe, MaxMessage, maxLineLength: 0, new DataDeadline(TimeSpan.FromMinutes(1)), CancellationToken.None);
        using var message = new MemoryStream();
        try
        {
            await reader.CopyToAsync(message);
        }
        catch (IOException) when (end < 0)
        {
            Check(expected.AsSpan().StartsWith(message.ToArray()), "bytes released before the connection closed are not the message's start");
            return;
        }

        Check(end >= 0, "a message without CRLF.CRLF was taken as complete");
        Check(reader.IsCompleted, "the reader ended without seeing CRLF.CRLF");
        Check(message.ToArray().AsSpan().SequenceEqual(expected), "the message differs from the reference unstuffing");
        using var rest = new MemoryStream();
        await pipe.CopyToAsync(rest);
        Check(rest.ToArray().AsSpan().SequenceEqual(input.AsSpan(end)), "the reader consumed bytes after the final dot");
    }

    private static async Task CheckStuffingAsync(byte[] message)
    {
        using var wire = new MemoryStream();
        var pipe = PipeWriter.Create(wire, new StreamPipeWriterOptions(leaveOpen: true));
        var writer = new DotWriter(pipe);
        writer.Append(message);
        await writer.CompleteAsync(CancellationToken.None);
        await pipe.CompleteAsync();
        var sent = wire.ToArray();
        var normalised = Normalise(message);
        Check(Unstuff(sent, out var end).AsSpan().SequenceEqual(normalised) && end == sent.Length, "DotWriter's output does not unstuff to the message");
        var lines = System.Text.Encoding.Latin1.GetString(sent, 0, sent.Length - 3).Split("\r\n");
        Check(!lines.SkipLast(1).Contains("."), "DotWriter wrote a line that is '.' alone before the end");
    }

    /// <summary>RFC 5321 4.5.2 by the book: at the start of a line (after CRLF) a dot is dropped, and ".CRLF" ends the data.</summary>
    public static byte[] Unstuff(byte[] input, out int end)
    {
        var output = new MemoryStream(input.Length);
        var lineStart = true;
        for (var i = 0; i < input.Length; i++)
        {
            if (lineStart && input[i] == '.')
            {
                if (i + 2 < input.Length && input[i + 1] == '\r' && input[i + 2] == '\n')
                {
                    end = i + 3;
                    return output.ToArray();
                }

                lineStart = false;
                continue;
            }

            output.WriteByte(input[i]);
            lineStart = input[i] == '\n' && i > 0 && input[i - 1] == '\r';
        }

        end = -1;
        return output.ToArray();
    }

    /// <summary>What a message becomes on the wire: bare LF made CRLF, and a last line ended (a trailing CR gets its LF).</summary>
    private static byte[] Normalise(byte[] message)
    {
        var output = new MemoryStream(message.Length + 2);
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r'))
            {
                output.WriteByte((byte)'\r');
            }

            output.WriteByte(message[i]);
        }

        var bytes = output.ToArray();
        return bytes.Length == 0 || bytes.AsSpan().EndsWith("\r\n"u8) ? bytes : bytes[^1] == '\r' ? [.. bytes, (byte)'\n'] : [.. bytes, (byte)'\r', (byte)'\n'];
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("simple", "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"u8.ToArray()),
        ("stuffed", "..leading dot\r\n.\r\n.\r\n"u8.ToArray()),
        ("empty", ".\r\n"u8.ToArray()),
        ("bare-lf-dot", "a\n.\nb\r\n.\r\nRSET\r\n"u8.ToArray()),
        ("dot-cr", "x\r\n.\rx\r\n..\r\n\r\n.\r\n"u8.ToArray()),
        ("unterminated", "no end\r\n."u8.ToArray()),
    ];
}
