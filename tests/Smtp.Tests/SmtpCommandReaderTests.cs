using System.Buffers;
using System.Text;

namespace Detach.Smtp.Tests;

public class SmtpCommandReaderTests
{
    private static List<string> ReadAll(ReadOnlySequence<byte> buffer, int max, out long left)
    {
        var lines = new List<string>();
        while (true)
        {
            LineStatus status = SmtpCommandReader.TryReadLine(ref buffer, max, out ReadOnlySequence<byte> line);
            if (status == LineStatus.Complete)
            {
                lines.Add(Encoding.UTF8.GetString(line));
            }
            else if (status == LineStatus.TooLongComplete)
            {
                lines.Add("<too long>");
            }
            else
            {
                left = buffer.Length;
                return lines;
            }
        }
    }

    [Fact]
    public void Pipelined_commands_parse_the_same_at_every_split()
    {
        byte[] data = Encoding.UTF8.GetBytes("EHLO a\r\nMAIL FROM:<x@y> SIZE=10\r\nRCPT TO:<z@y>\nDATA\r\nQU");
        string[] expected = ["EHLO a", "MAIL FROM:<x@y> SIZE=10", "RCPT TO:<z@y>", "DATA"];
        for (int a = 0; a <= data.Length; a++)
        {
            for (int b = a; b <= data.Length; b += 3)
            {
                List<string> lines = ReadAll(SplitSequence.Create(data, a, b), 512, out long left);
                Assert.Equal(expected, lines);
                Assert.Equal(2, left);
            }
        }
    }

    [Fact]
    public void Long_line_is_reported_whether_complete_or_not()
    {
        byte[] complete = Encoding.ASCII.GetBytes("NOOP " + new string('a', 600) + "\r\nQUIT\r\n");
        Assert.Equal(["<too long>", "QUIT"], ReadAll(new ReadOnlySequence<byte>(complete), 512, out _));

        var partial = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('a', 513)));
        Assert.Equal(LineStatus.TooLongPartial, SmtpCommandReader.TryReadLine(ref partial, 512, out _));
        Assert.True(partial.IsEmpty);

        var rest = new ReadOnlySequence<byte>("aaaa\r\nQUIT\r\n"u8.ToArray());
        Assert.True(SmtpCommandReader.SkipToLineEnd(ref rest));
        Assert.Equal("QUIT\r\n", Encoding.ASCII.GetString(rest));
    }

    [Fact]
    public void Line_of_exactly_512_octets_with_crlf_fits()
    {
        var fits = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('a', 510) + "\r\n"));
        Assert.Equal(LineStatus.Complete, SmtpCommandReader.TryReadLine(ref fits, 512, out _));
        var over = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('a', 511) + "\r\n"));
        Assert.Equal(LineStatus.TooLongComplete, SmtpCommandReader.TryReadLine(ref over, 512, out _));
    }
}
