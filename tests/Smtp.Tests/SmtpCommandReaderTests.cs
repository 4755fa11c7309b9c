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

public class SmtpCommandSyntaxTests
{
    [Theory]
    [InlineData("FROM:<a@b.example>", "a@b.example", "")]
    [InlineData("FROM:<>", "", "")]
    [InlineData("from: <a@b> SIZE=100 BODY=8BITMIME", "a@b", "SIZE=100 BODY=8BITMIME")]
    [InlineData("FROM:<\"odd>local\"@b> RET=HDRS ENVID=QQ+2Bx", "\"odd>local\"@b", "RET=HDRS ENVID=QQ+2Bx")]
    [InlineData("FROM:a@b SMTPUTF8", "a@b", "SMTPUTF8")]
    [InlineData("FROM:<@relay.example:a@b>", "@relay.example:a@b", "")]
    [InlineData("FROM:<ü@b.example> SMTPUTF8", "ü@b.example", "SMTPUTF8")]
    public void Parses_path_and_keeps_raw_parameters(string args, string path, string raw)
    {
        Assert.Null(SmtpCommandSyntax.TryParsePathAndParameters(args, "FROM:", out string p, out string r, out List<SmtpParameter> parameters));
        Assert.Equal(path, p);
        Assert.Equal(raw, r);
        Assert.Equal(raw.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, parameters.Count);
    }

    [Fact]
    public void Parameters_are_keyword_value_pairs()
    {
        Assert.Null(SmtpCommandSyntax.TryParsePathAndParameters("TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b", "TO:", out _, out _, out List<SmtpParameter> parameters));
        var mail = new RcptToCommand("a@b", "", parameters);
        Assert.Equal("SUCCESS,FAILURE", mail["notify"]);
        Assert.Equal("rfc822;a+40b", mail["ORCPT"]);
    }

    [Theory]
    [InlineData("FROM <a@b>")]
    [InlineData("TO:<a@b>")]
    [InlineData("FROM:<a@b")]
    [InlineData("FROM:<a@b>SIZE=1")]
    [InlineData("FROM:<a@b> =1")]
    [InlineData("FROM:<a@b> SIZE=")]
    [InlineData("FROM:<a@b> -X")]
    [InlineData("FROM:<a b@c>")]
    [InlineData("FROM:")]
    public void Rejects_bad_syntax(string args)
    {
        Assert.NotNull(SmtpCommandSyntax.TryParsePathAndParameters(args, "FROM:", out _, out _, out _));
    }

    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("a+2Bb+3D", "a+b=")]
    [InlineData("[UNAVAILABLE]", "[UNAVAILABLE]")]
    [InlineData("caf+C3+A9", "café")]
    public void Xtext_decodes(string text, string value)
    {
        Assert.True(Xtext.TryDecode(text, out string decoded));
        Assert.Equal(value, decoded);
        Assert.True(Xtext.TryDecode(Xtext.Encode(value), out string again));
        Assert.Equal(value, again);
    }

    [Theory]
    [InlineData("a+")]
    [InlineData("a+4")]
    [InlineData("a+ZZ")]
    public void Xtext_rejects_bad_escapes(string text) => Assert.False(Xtext.TryDecode(text, out _));

    [Fact]
    public void Xtext_encodes_specials() => Assert.Equal("a+20b+2B+3Dc", Xtext.Encode("a b+=c"));
}
