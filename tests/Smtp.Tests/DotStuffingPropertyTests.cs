using System.IO.Pipelines;
using CsCheck;

namespace Detach.Smtp.Tests;

/// <summary>
/// Dot-stuffing over generated messages (CsCheck): what DotWriter sends, DotReader gives back, for any message and
/// any way the writes and reads are cut; no line on the wire before the end is "." alone. One deliberate difference:
/// a dot right after a bare CR is stuffed too (so a next hop that ends lines at a bare CR never sees a lone dot), and a
/// reader that ends lines only at CRLF keeps that second dot (<see cref="AsACrlfReaderSeesIt"/>).
/// </summary>
public class DotStuffingPropertyTests
{
    /// <summary>Messages rich in what stuffing is about: dots, CR, LF, CRLF, dot lines, at any position.</summary>
    private static readonly Gen<byte[]> Message =
        Gen.OneOf(
            Gen.Byte.Array[0, 3000],
            Gen.OneOf("."u8.ToArray(), "\r"u8.ToArray(), "\n"u8.ToArray(), "\r\n"u8.ToArray(), ".\r\n"u8.ToArray(), "..\r\n"u8.ToArray(), "\r\n.\r\n"u8.ToArray(), "a"u8.ToArray(), " "u8.ToArray())
                .Array[0, 200].Select(parts => parts.SelectMany(p => p).ToArray()));

    /// <summary>Messages already in wire form: every line ends in CRLF (the form DotWriter makes of any message).</summary>
    private static readonly Gen<byte[]> CrlfMessage = Message.Select(Normalise);

    [Fact]
    public void Unstuffing_what_was_stuffed_gives_the_message_back()
    {
        Gen.Select(CrlfMessage, Gen.Int[1, 700], Gen.Int[1, 700]).Sample((message, writeSize, readSize) =>
        {
            var wire = Stuff(message, writeSize);
            Assert.Equal(AsACrlfReaderSeesIt(message), Unstuff(wire, readSize, out var rest));
            Assert.Empty(rest);
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Any_message_comes_back_with_only_its_line_ends_made_crlf()
    {
        Gen.Select(Message, Gen.Int[1, 700]).Sample((message, writeSize) =>
        {
            var wire = Stuff(message, writeSize);
            Assert.Equal(AsACrlfReaderSeesIt(Normalise(message)), Unstuff(wire, 4096, out _));
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void No_line_on_the_wire_is_a_lone_dot_before_the_end_and_the_cut_of_the_writes_does_not_matter()
    {
        Gen.Select(Message, Gen.Int[1, 700]).Sample((message, writeSize) =>
        {
            var wire = Stuff(message, writeSize);
            Assert.True(wire.AsSpan().EndsWith("\r\n.\r\n"u8) || wire.AsSpan().SequenceEqual(".\r\n"u8), "the wire does not end with the final dot");
            var lines = System.Text.Encoding.Latin1.GetString(wire).Split("\r\n");
            Assert.Equal(".", lines[^2]);
            Assert.DoesNotContain(".", lines[..^2]);
            Assert.All(lines[..^1], l => Assert.DoesNotContain('\n', l));
            // A next hop that also ends lines at a bare CR or LF (RFC 5321 readings vary) sees no lone dot before the end either.
            var lenient = System.Text.RegularExpressions.Regex.Split(System.Text.Encoding.Latin1.GetString(wire), "\r\n|\r|\n");
            Assert.Equal(".", lenient[^2]);
            Assert.DoesNotContain(".", lenient[..^2]);
            Assert.Equal(Stuff(message, message.Length + 1), wire);
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Reading_stops_at_the_final_dot_whatever_follows()
    {
        Gen.Select(CrlfMessage, Gen.Byte.Array[0, 50], Gen.Int[1, 700]).Sample((message, after, readSize) =>
        {
            var wire = Stuff(message, 512);
            Assert.Equal(AsACrlfReaderSeesIt(message), Unstuff([.. wire, .. after], readSize, out var rest));
            Assert.Equal(after, rest);
        }, iter: 200, threads: 1);
    }

    [Fact]
    public void A_line_past_the_limit_is_refused_exactly_when_one_is_on_the_wire_however_the_reads_are_cut()
    {
        // The reader copies runs of whole lines at once: the line length must still be judged line by line, counting
        // the wire bytes from one CRLF to the next (a stuffed dot and the CRLF included).
        Gen.Select(CrlfMessage, Gen.Int[3, 120], Gen.Int[1, 700], Gen.Int[1, 300]).Sample((message, maxLine, readSize, segment) =>
        {
            var wire = Stuff(message, 512);
            var lines = System.Text.Encoding.Latin1.GetString(wire, 0, wire.Length - 3).Split("\r\n");
            bool tooLong = lines.Any(l => l.Length + 2 > maxLine);
            var pipe = PipeReader.Create(new MemoryStream(wire), new StreamPipeReaderOptions(bufferSize: segment, minimumReadSize: segment));
            var reader = new DotReader(pipe, 1 << 24, maxLine, new DataDeadline(TimeSpan.FromSeconds(30)), CancellationToken.None);
            var buffer = new byte[readSize];
            try
            {
                while (reader.ReadAsync(buffer, CancellationToken.None).AsTask().GetAwaiter().GetResult() > 0)
                {
                }

                Assert.False(tooLong, "a line past the limit was let through");
            }
            catch (SmtpException e)
            {
                Assert.True(tooLong, "a line within the limit was refused");
                Assert.Equal(500, e.Reply.Code);
            }
        }, iter: 300, threads: 1);
    }

    private static byte[] Stuff(byte[] message, int writeSize)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new DotWriter(pipe.Writer);
        for (var i = 0; i < message.Length; i += writeSize)
        {
            writer.WriteAsync(message.AsMemory(i, Math.Min(writeSize, message.Length - i)), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        writer.CompleteAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        pipe.Writer.Complete();
        var output = new MemoryStream();
        pipe.Reader.CopyToAsync(output).GetAwaiter().GetResult();
        return output.ToArray();
    }

    /// <summary>DotReader over <paramref name="wire"/>, in reads of <paramref name="readSize"/>; <paramref name="rest"/> is what it left in the pipe.</summary>
    private static byte[] Unstuff(byte[] wire, int readSize, out byte[] rest)
    {
        var pipe = PipeReader.Create(new System.Buffers.ReadOnlySequence<byte>(wire));
        var reader = new DotReader(pipe, 1 << 24, 0, new DataDeadline(TimeSpan.FromSeconds(30)), CancellationToken.None);
        var output = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = reader.ReadAsync(buffer, CancellationToken.None).AsTask().GetAwaiter().GetResult()) > 0)
        {
            output.Write(buffer, 0, n);
        }

        Assert.True(reader.IsCompleted);
        var left = new MemoryStream();
        pipe.CopyToAsync(left).GetAwaiter().GetResult();
        rest = left.ToArray();
        return output.ToArray();
    }

    /// <summary>Bare LF made CRLF and the last line ended (a trailing CR gets its LF), as DotWriter promises.</summary>
    private static byte[] Normalise(byte[] message)
    {
        var output = new List<byte>(message.Length + 2);
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r'))
            {
                output.Add((byte)'\r');
            }

            output.Add(message[i]);
        }

        if (output.Count > 0 && output[^1] == '\r')
        {
            output.Add((byte)'\n');
        }
        else if (output.Count > 0 && !(output.Count >= 2 && output[^2] == '\r' && output[^1] == '\n'))
        {
            output.AddRange("\r\n"u8);
        }

        return [.. output];
    }

    /// <summary>A message in wire form as a CRLF-only reader unstuffs it: the dot stuffed after a bare CR stays doubled.</summary>
    private static byte[] AsACrlfReaderSeesIt(byte[] crlfMessage)
    {
        var output = new List<byte>(crlfMessage.Length);
        for (var i = 0; i < crlfMessage.Length; i++)
        {
            output.Add(crlfMessage[i]);
            if (crlfMessage[i] == '.' && i > 0 && crlfMessage[i - 1] == '\r')
            {
                output.Add((byte)'.');
            }
        }

        return [.. output];
    }
}
