using System.Net;

namespace Detach.Smtp.Tests;

/// <summary>The command grammar on its own, without sockets: paths, parameters, HELO arguments, XFORWARD/XCLIENT attributes, EHLO keywords.</summary>
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
        Assert.Null(SmtpCommandSyntax.TryParsePathAndParameters(args, "FROM:", "5.1.7", out string p, out string r, out List<SmtpParameter> parameters));
        Assert.Equal(path, p);
        Assert.Equal(raw, r);
        Assert.Equal(raw.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, parameters.Count);
    }

    [Fact]
    public void Parameters_are_keyword_value_pairs()
    {
        Assert.Null(SmtpCommandSyntax.TryParseRcpt("TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b", out RcptToCommand mail));
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
        Assert.NotNull(SmtpCommandSyntax.TryParseMail(args, out _));
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

    /// <summary>Control characters in a path would be line ends to some next hop (RCPT TO:&lt;b@x\rRSET\r&gt;): the client's error, 501 5.1.x.</summary>
    [Theory]
    [InlineData("TO:<b@example.test\rRSET\r>", "5.1.3")]
    [InlineData("TO:<b@example.test\n>", "5.1.3")]
    [InlineData("TO:<b\u0001@example.test>", "5.1.3")]
    [InlineData("TO:<b@example.test\u007f>", "5.1.3")]
    [InlineData("TO:<\"b\tc\"@example.test>", "5.1.3")]
    [InlineData("TO:b@example.test\r", "5.1.3")]
    [InlineData("TO:<>", "5.1.3")]
    [InlineData("TO:<b@example.test", "5.1.3")]
    public void A_recipient_path_that_cannot_be_relayed_is_501_5_1_3(string args, string code)
    {
        SmtpReply? reply = SmtpCommandSyntax.TryParseRcpt(args, out _);
        Assert.Equal((501, code), (reply?.Code, reply?.EnhancedCode));
    }

    [Theory]
    [InlineData("FROM:<a\r@example.org>")]
    [InlineData("FROM:<a@example.org\rRSET>")]
    [InlineData("FROM:<a@example.org\u001b>")]
    public void A_sender_path_with_control_characters_is_501_5_1_7(string args)
    {
        SmtpReply? reply = SmtpCommandSyntax.TryParseMail(args, out _);
        Assert.Equal((501, "5.1.7"), (reply?.Code, reply?.EnhancedCode));
    }

    /// <summary>A bad keyword is not echoed: a CR in it cannot go into a reply line.</summary>
    [Fact]
    public void A_bad_parameter_keyword_is_refused_without_echo()
    {
        SmtpReply? reply = SmtpCommandSyntax.TryParseMail("FROM:<a@b> X\u0001Y=1", out _);
        Assert.Equal("501 5.5.4 Bad parameter keyword\r\n", reply?.ToString());
    }

    [Theory]
    [InlineData("client.example.test", true)]
    [InlineData("[192.0.2.1]", true)]
    [InlineData("", false)]
    [InlineData("two words", false)]
    [InlineData("a\rb", false)]
    [InlineData("a\tb", false)]
    public void Hello_takes_one_printable_word(string argument, bool valid)
    {
        SmtpReply? reply = SmtpCommandSyntax.CheckHelloArgument("EHLO", argument);
        Assert.Equal(valid, reply is null);
        if (!valid)
        {
            Assert.Equal("501 5.5.4 Syntax: EHLO hostname\r\n", reply!.ToString());
        }
    }

    [Theory]
    [InlineData("EHLO x", "EHLO", "x")]
    [InlineData("mail FROM:<a>  ", "MAIL", "FROM:<a>")]
    [InlineData("QUIT", "QUIT", "")]
    public void Splits_verb_and_arguments(string line, string verb, string args) =>
        Assert.Equal((verb, args), SmtpCommandSyntax.SplitCommand(line));

    [Theory]
    [InlineData("XFORWARD", "NAME=client.example.org ADDR=192.0.2.5 PORT=4711 PROTO=ESMTP HELO=x IDENT=q+2Bq SOURCE=REMOTE", null)]
    [InlineData("XFORWARD", "ADDR=IPv6:2001:db8::1 NAME=[UNAVAILABLE]", null)]
    [InlineData("XFORWARD", "ADDR=[TEMPUNAVAIL]", null)]
    [InlineData("XCLIENT", "ADDR=192.0.2.5 LOGIN=ann DESTADDR=192.0.2.1 DESTPORT=25", null)]
    [InlineData("XFORWARD", "", "Syntax: XFORWARD attribute=value...")]
    [InlineData("XFORWARD", "LOGIN=ann", "Bad attribute name")]
    [InlineData("XCLIENT", "IDENT=x", "Bad attribute name")]
    [InlineData("XFORWARD", "NAME", "Bad attribute name")]
    [InlineData("XFORWARD", "ADDR=6.6.6", "Bad ADDR attribute value")]
    [InlineData("XFORWARD", "ADDR=trusted.bank.test", "Bad ADDR attribute value")]
    [InlineData("XFORWARD", "PORT=65536", "Bad PORT attribute value")]
    [InlineData("XFORWARD", "PORT=-1", "Bad PORT attribute value")]
    [InlineData("XFORWARD", "NAME=a+0D+0ARSET", "Bad NAME attribute value")]
    [InlineData("XFORWARD", "HELO=a+00b", "Bad HELO attribute value")]
    [InlineData("XFORWARD", "NAME=", "Bad NAME attribute value")]
    [InlineData("XFORWARD", "NAME=a+Z", "Bad NAME attribute value")]
    [InlineData("XCLIENT", "DESTPORT=x", "Bad DESTPORT attribute value")]
    public void Forwarding_attributes_are_known_names_with_sane_values(string command, string args, string? error)
    {
        SmtpReply? reply = ForwardingAttributes.TryParse(command, args, out List<KeyValuePair<string, string>> attributes);
        Assert.Equal(error, reply?.Lines[0]);
        if (error is null)
        {
            Assert.Equal(args.Split(' ').Length, attributes.Count);
        }
        else
        {
            Assert.Equal((501, "5.5.4"), (reply!.Code, reply.EnhancedCode));
        }
    }

    [Theory]
    [InlineData("SIZE=1000", null)]
    [InlineData("SIZE=2000", "552 5.3.4")]
    [InlineData("SIZE=x", "501 5.5.4")]
    [InlineData("SIZE", "501 5.5.4")]
    [InlineData("BODY=8bitmime SMTPUTF8", null)]
    [InlineData("BODY=BINARYMIME", "501 5.5.4")]
    [InlineData("SMTPUTF8=yes", "501 5.5.4")]
    [InlineData("RET=HDRS ENVID=a+2Bb", null)]
    [InlineData("RET=ALL", "501 5.5.4")]
    [InlineData("ENVID=a+Z", "501 5.5.4")]
    [InlineData("AUTH=<>", "555 5.5.4")]
    public void Mail_parameters(string parameters, string? refusal)
    {
        Assert.Null(SmtpCommandSyntax.TryParseMail("FROM:<a@b> " + parameters, out MailFromCommand mail));
        SmtpReply? reply = EnvelopeParameters.CheckMail(mail, maxMessageSize: 1500, dsn: true);
        Assert.Equal(refusal, reply is null ? null : $"{reply.Code} {reply.EnhancedCode}");
    }

    [Fact]
    public void Dsn_parameters_need_dsn_and_utf8_needs_smtputf8()
    {
        Assert.Null(SmtpCommandSyntax.TryParseMail("FROM:<a@b> RET=FULL", out MailFromCommand mail));
        Assert.Equal(555, EnvelopeParameters.CheckMail(mail, 1000, dsn: false)?.Code);
        Assert.Null(SmtpCommandSyntax.TryParseMail("FROM:<ü@b>", out mail));
        Assert.Equal("5.6.7", EnvelopeParameters.CheckMail(mail, 1000, dsn: true)?.EnhancedCode);

        Assert.Null(SmtpCommandSyntax.TryParseRcpt("TO:<c@d> NOTIFY=NEVER ORCPT=rfc822;c@d", out RcptToCommand rcpt));
        Assert.Null(EnvelopeParameters.CheckRcpt(rcpt, dsn: true, smtpUtf8: false));
        Assert.Equal(555, EnvelopeParameters.CheckRcpt(rcpt, dsn: false, smtpUtf8: false)?.Code);
        Assert.Null(SmtpCommandSyntax.TryParseRcpt("TO:<ü@d>", out rcpt));
        Assert.Equal(553, EnvelopeParameters.CheckRcpt(rcpt, dsn: true, smtpUtf8: false)?.Code);
        Assert.Null(EnvelopeParameters.CheckRcpt(rcpt, dsn: true, smtpUtf8: true));
    }

    [Fact]
    public void Ehlo_announces_forwarding_only_to_authorised_clients_and_starttls_only_before_tls()
    {
        var options = new SmtpServerOptions { Chunking = false };
        var context = new SmtpSessionContext("1", new IPEndPoint(IPAddress.Loopback, 1), null);
        Assert.Equal(["PIPELINING", $"SIZE {options.Limits.MaxMessageSize}", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"], EhloKeywords.For(options, context));

        context.IsForwardingAuthorized = true;
        Assert.Contains("XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE", EhloKeywords.For(options, context));
        Assert.Contains("XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", EhloKeywords.For(options, context));
    }
}
