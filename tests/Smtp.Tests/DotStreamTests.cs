using System.IO.Pipelines;
using System.Text;

namespace Detach.Smtp.Tests;

public class DotStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Feeds <paramref name="wire"/> into a pipe in pieces of <paramref name="chunk"/> bytes and reads the message back.</summary>
    private static async Task<(byte[] Message, string Remaining, DotReader Reader)> ReadAsync(byte[] wire, int chunk, long maxSize = 1 << 20, int maxLine = 1000, int readSize = 7)
    {
        var pipe = new Pipe();
        for (int i = 0; i < wire.Length; i += chunk)
        {
            await pipe.Writer.WriteAsync(wire.AsMemory(i, Math.Min(chunk, wire.Length - i)), Ct);
        }

        await pipe.Writer.CompleteAsync();
        var reader = new DotReader(pipe.Reader, maxSize, maxLine, new DataDeadline(TimeSpan.FromSeconds(30)), Ct);
        var message = new MemoryStream();
        byte[] buffer = new byte[readSize];
        int n;
        while ((n = await reader.ReadAsync(buffer, Ct)) > 0)
        {
            message.Write(buffer, 0, n);
        }

        ReadResult rest = await pipe.Reader.ReadAsync(Ct);
        string restText = Encoding.ASCII.GetString(rest.Buffer);
        pipe.Reader.AdvanceTo(rest.Buffer.End);
        return (message.ToArray(), restText, reader);
    }

    [Theory]
    [InlineData("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nbody\r\n")]
    [InlineData(".\r\nQUIT\r\n", "")]
    [InlineData("..leading dot\r\n...two\r\n.\r\nQUIT\r\n", ".leading dot\r\n..two\r\n")]
    [InlineData("a\r\n..\r\nb\r\n.\r\nQUIT\r\n", "a\r\n.\r\nb\r\n")]
    [InlineData("bare\nlf\n.\nstill data\r\n.\r\nQUIT\r\n", "bare\nlf\n.\nstill data\r\n")]
    [InlineData("smuggle\n.\r\nMAIL FROM:<x>\r\n.\r\nQUIT\r\n", "smuggle\n.\r\nMAIL FROM:<x>\r\n")]
    [InlineData("cr\r.\r\nx\r\n.\r\nQUIT\r\n", "cr\r.\r\nx\r\n")]
    [InlineData("a\r\n.\rb\r\n.\r\nQUIT\r\n", "a\r\n\rb\r\n")]
    [InlineData("a\r\r\n.\r\nQUIT\r\n", "a\r\r\n")]
    public async Task Unstuffs_and_stops_at_crlf_dot_crlf(string wire, string message)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(wire);
        foreach (int chunk in new[] { 1, 2, 3, 5, bytes.Length })
        {
            (byte[] got, string rest, DotReader reader) = await ReadAsync(bytes, chunk);
            Assert.Equal(message, Encoding.ASCII.GetString(got));
            Assert.Equal("QUIT\r\n", rest);
            Assert.True(reader.IsCompleted);
        }
    }

    [Fact]
    public async Task Closed_connection_before_the_dot_throws_io_exception()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("half a message\r\n"u8.ToArray(), Ct);
        await pipe.Writer.CompleteAsync();
        var reader = new DotReader(pipe.Reader, 1 << 20, 1000, new DataDeadline(TimeSpan.FromSeconds(30)), Ct);
        await Assert.ThrowsAnyAsync<IOException>(() => reader.CopyToAsync(Stream.Null, Ct));
        Assert.True(reader.IsBroken);
        Assert.False(reader.IsCompleted);
    }

    [Fact]
    public async Task Size_limit_throws_552_then_drains_to_the_end()
    {
        var pipe = new Pipe();
        string body = string.Concat(Enumerable.Repeat("0123456789abcdef0123456789abcdef\r\n", 200));
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(body + ".\r\nNOOP\r\n"), Ct);
        var reader = new DotReader(pipe.Reader, 1024, 1000, new DataDeadline(TimeSpan.FromSeconds(30)), Ct);
        SmtpException e = await Assert.ThrowsAsync<SmtpException>(() => reader.CopyToAsync(Stream.Null, Ct));
        Assert.Equal(552, e.Reply.Code);
        Assert.Equal("5.3.4", e.Reply.EnhancedCode);
        await reader.DrainAsync(Ct);
        Assert.True(reader.IsCompleted);
        ReadResult rest = await pipe.Reader.ReadAsync(Ct);
        Assert.Equal("NOOP\r\n", Encoding.ASCII.GetString(rest.Buffer));
    }

    [Fact]
    public async Task Long_text_line_throws_500_and_exactly_1000_octets_pass()
    {
        string ok = new string('a', 998) + "\r\n";
        (byte[] got, _, _) = await ReadAsync(Encoding.ASCII.GetBytes(ok + ".\r\n"), 4096, readSize: 4096);
        Assert.Equal(ok, Encoding.ASCII.GetString(got));

        // A stuffed dot counts: it is on the wire.
        string stuffed = "." + new string('.', 998) + "\r\n.\r\n";
        await Assert.ThrowsAsync<SmtpException>(() => ReadAsync(Encoding.ASCII.GetBytes(stuffed), 4096, readSize: 4096));

        string tooLong = new string('a', 999) + "\r\n.\r\n";
        SmtpException e = await Assert.ThrowsAsync<SmtpException>(() => ReadAsync(Encoding.ASCII.GetBytes(tooLong), 4096, readSize: 4096));
        Assert.Equal(500, e.Reply.Code);
    }

    /// <summary>A small message goes out in one write together with its final dot; a big one in pieces as it comes.</summary>
    [Fact]
    public async Task Writes_are_sent_once_enough_waits_and_the_rest_with_the_final_dot()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new DotWriter(pipe.Writer);
        await writer.WriteAsync("Subject: small\r\n\r\nhello\r\n"u8.ToArray(), Ct);
        Assert.False(pipe.Reader.TryRead(out _));

        await writer.WriteAsync(new byte[DotWriter.FlushThreshold], Ct);
        Assert.True(pipe.Reader.TryRead(out ReadResult sent));
        Assert.Equal(DotWriter.FlushThreshold + 25, sent.Buffer.Length);
        pipe.Reader.AdvanceTo(sent.Buffer.End);

        await writer.WriteAsync("\r\nlast line\r\n"u8.ToArray(), Ct);
        Assert.False(pipe.Reader.TryRead(out _));
        await writer.CompleteAsync(Ct);
        Assert.True(pipe.Reader.TryRead(out ReadResult rest));
        Assert.Equal("\r\nlast line\r\n.\r\n", Encoding.ASCII.GetString(rest.Buffer));
    }

    internal static async Task<byte[]> StuffAsync(byte[] message, int chunk)
    {
        var pipe = new Pipe();
        var writer = new DotWriter(pipe.Writer);
        for (int i = 0; i < message.Length; i += chunk)
        {
            await writer.WriteAsync(message.AsMemory(i, Math.Min(chunk, message.Length - i)), Ct);
        }

        await writer.CompleteAsync(Ct);
        await pipe.Writer.CompleteAsync();
        var output = new MemoryStream();
        await pipe.Reader.CopyToAsync(output, Ct);
        return output.ToArray();
    }

    [Theory]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData("", ".\r\n")]
    [InlineData("no final crlf", "no final crlf\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData(".start\r\nmid.dle\r\n.", "..start\r\nmid.dle\r\n..\r\n.\r\n")]
    [InlineData("bare\nlf\n.\n", "bare\r\nlf\r\n..\r\n.\r\n")]
    [InlineData("ends in cr\r", "ends in cr\r\n.\r\n")]
    [InlineData("lone\r.cr\r\n", "lone\r..cr\r\n.\r\n")]
    [InlineData("cr\r\r\n.\r", "cr\r\r\n..\r\n.\r\n")]
    public async Task Stuffs_dots_after_any_line_end_normalises_bare_lf_and_ends_the_last_line(string message, string wire)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(message);
        foreach (int chunk in new[] { 1, 2, 3, Math.Max(1, bytes.Length) })
        {
            Assert.Equal(wire, Encoding.ASCII.GetString(await StuffAsync(bytes, chunk)));
        }
    }

    [Fact]
    public async Task Random_messages_round_trip_through_writer_and_reader()
    {
        var random = new Random(5321);
        byte[] alphabet = ".\r\n\r\na.b "u8.ToArray();
        for (int round = 0; round < 300; round++)
        {
            byte[] message = new byte[random.Next(0, 60)];
            for (int i = 0; i < message.Length; i++)
            {
                message[i] = alphabet[random.Next(alphabet.Length)];
            }

            byte[] wire = await StuffAsync(message, random.Next(1, 8));
            (byte[] back, string rest, _) = await ReadAsync([.. wire, .. "QUIT\r\n"u8], random.Next(1, 9), readSize: random.Next(1, 16));
            Assert.Equal("QUIT\r\n", rest);
            Assert.Equal(Normalise(message), back);
        }
    }

    /// <summary>
    /// What a message becomes on the way through: bare LF becomes CRLF, the last line gets its CRLF, and a dot after a
    /// bare CR comes out doubled (stuffed for readers that end lines at CR; a CRLF reader sees both dots mid-line).
    /// </summary>
    internal static byte[] Normalise(byte[] message, bool stuffedAfterCr = true)
    {
        var output = new List<byte>();
        for (int i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\n' && (i == 0 || message[i - 1] != (byte)'\r'))
            {
                output.Add((byte)'\r');
            }

            if (stuffedAfterCr && message[i] == (byte)'.' && i > 0 && message[i - 1] == (byte)'\r')
            {
                output.Add((byte)'.');
            }

            output.Add(message[i]);
        }

        if (output.Count > 0 && output[^1] != (byte)'\n')
        {
            if (output[^1] != (byte)'\r')
            {
                output.Add((byte)'\r');
            }

            output.Add((byte)'\n');
        }

        return output.ToArray();
    }
}
