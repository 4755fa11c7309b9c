using System.Buffers;
using System.Text;

namespace Detach.Smtp.Tests;

public class SmtpReplyParserTests
{
    private static SmtpReply ParseAll(string text) => SmtpReply.Parse(text);

    [Fact]
    public void Parses_multiline_reply_and_takes_enhanced_code_off_each_line()
    {
        SmtpReply reply = ParseAll("250-2.1.0 first line\r\n250-2.1.0 second\r\n250 2.1.0 last\r\n");
        Assert.Equal(250, reply.Code);
        Assert.Equal("2.1.0", reply.EnhancedCode);
        Assert.Equal(["first line", "second", "last"], reply.Lines);
        Assert.Equal("250-2.1.0 first line\r\n250-2.1.0 second\r\n250 2.1.0 last\r\n", reply.ToString());
    }

    [Fact]
    public void Ehlo_reply_without_enhanced_codes_round_trips()
    {
        const string Text = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 XFORWARD NAME ADDR\r\n";
        SmtpReply reply = ParseAll(Text);
        Assert.Null(reply.EnhancedCode);
        Assert.Equal(Text, reply.ToString());
    }

    [Theory]
    [InlineData("250 2.0.0\r\n", "2.0.0", "")]
    [InlineData("250 2.0.0 Ok\r\n", "2.0.0", "Ok")]
    [InlineData("550 2.0.0 class differs so it is text\r\n", null, "2.0.0 class differs so it is text")]
    [InlineData("250 2.0.0x not a code\r\n", null, "2.0.0x not a code")]
    [InlineData("250\r\n", null, "")]
    [InlineData("354 End data with <CR><LF>.<CR><LF>\r\n", null, "End data with <CR><LF>.<CR><LF>")]
    [InlineData("451 4.3.0 Error: queue file write error\n", "4.3.0", "Error: queue file write error")]
    public void Recognises_enhanced_codes_only_when_they_match(string text, string? enhanced, string line)
    {
        SmtpReply reply = ParseAll(text);
        Assert.Equal(enhanced, reply.EnhancedCode);
        Assert.Equal(line, Assert.Single(reply.Lines));
    }

    [Theory]
    [InlineData("2a0 Ok\r\n")]
    [InlineData("25 Ok\r\n")]
    [InlineData("/50 Ok\r\n")]
    [InlineData("650 Ok\r\n")]
    [InlineData("150 Ok\r\n")]
    [InlineData("250_Ok\r\n")]
    [InlineData("\r\n")]
    [InlineData("250-first\r\n251 second\r\n")]
    [InlineData("250-first\r\n550 second\r\n")]
    [InlineData("250-first\r\nxyz second\r\n")]
    [InlineData("250 bad \0 nul\r\n")]
    public void Rejects_malformed_replies(string text)
    {
        var sequence = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text));
        Assert.Throws<SmtpProtocolException>(() => SmtpReplyParser.Default.TryParse(ref sequence, out _));
    }

    [Fact]
    public void Rejects_non_utf8_text()
    {
        var sequence = new ReadOnlySequence<byte>([.. "250 "u8, 0xff, 0xfe, (byte)'\r', (byte)'\n']);
        Assert.Throws<SmtpProtocolException>(() => SmtpReplyParser.Default.TryParse(ref sequence, out _));
    }

    [Fact]
    public void Rejects_over_long_line_before_it_ends()
    {
        var parser = new SmtpReplyParser(maxLineLength: 100);
        var sequence = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 200)));
        Assert.Throws<SmtpProtocolException>(() => parser.TryParse(ref sequence, out _));

        var complete = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 97) + "\r\n"));
        Assert.Throws<SmtpProtocolException>(() => parser.TryParse(ref complete, out _));

        var fits = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 94) + "\r\n"));
        Assert.True(parser.TryParse(ref fits, out SmtpReply? reply));
        Assert.Equal(94, reply.Lines[0].Length);
    }

    [Fact]
    public void Rejects_too_many_lines()
    {
        var parser = new SmtpReplyParser(maxLines: 3);
        var sequence = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-a\r\n250-b\r\n250-c\r\n250 d\r\n"));
        Assert.Throws<SmtpProtocolException>(() => parser.TryParse(ref sequence, out _));
    }

    [Fact]
    public void Incomplete_reply_consumes_nothing_at_every_split()
    {
        byte[] data = Encoding.UTF8.GetBytes("250-mx.example.org\r\n250-SIZE 1000\r\n250 8BITMIME\r\n221 2.0.0 Bye\r\n");
        int firstEnd = data.Length - "221 2.0.0 Bye\r\n".Length;
        for (int cut = 0; cut <= data.Length; cut++)
        {
            // The first "cut" bytes have arrived, in two segments split at every position.
            for (int split = 0; split <= cut; split += Math.Max(1, cut / 7))
            {
                ReadOnlySequence<byte> sequence = SplitSequence.Create(data[..cut], split);
                bool done = SmtpReplyParser.Default.TryParse(ref sequence, out SmtpReply? reply);
                Assert.Equal(cut >= firstEnd, done);
                if (done)
                {
                    Assert.Equal(["mx.example.org", "SIZE 1000", "8BITMIME"], reply!.Lines);
                    Assert.Equal(cut - firstEnd, sequence.Length);
                }
                else
                {
                    Assert.Equal(cut, sequence.Length);
                }
            }
        }
    }

    [Fact]
    public void Reply_rejects_cr_lf_in_lines_and_bad_codes()
    {
        Assert.Throws<ArgumentException>(() => new SmtpReply(250, null, "a\r\nb"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpReply(199, null, "x"));
        Assert.Throws<ArgumentException>(() => new SmtpReply(250, "2.0", "x"));
        Assert.Throws<ArgumentException>(() => new SmtpReply(250, "2.0.1234", "x"));
    }
}
