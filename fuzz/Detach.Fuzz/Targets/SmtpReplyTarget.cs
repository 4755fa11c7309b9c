using System.Buffers;
using Detach.Smtp;

namespace Detach.Fuzz.Targets;

/// <summary>SmtpReplyParser (the relay client's reader of the next hop) on any byte stream.</summary>
internal sealed class SmtpReplyTarget : FuzzTarget
{
    public override string Name => "smtp-reply";

    public override string Invariant =>
        "the same replies (or the same SmtpProtocolException) whatever the segmentation; each reply re-serialises to bytes that parse to the same reply";

    public override void Run(byte[] input)
    {
        var whole = Parse(input, [input.Length]);
        var trickled = Parse(input, Segments.Trickle().Take(input.Length).Select((_, i) => i + 1));
        Check(whole.SequenceEqual(trickled), "the replies depend on where the input was cut");
    }

    /// <summary>Each reply as text (code, enhanced code, lines), then "!" and the error if one stopped the parse.</summary>
    private static List<string> Parse(byte[] input, IEnumerable<int> cuts)
    {
        var parser = SmtpReplyParser.Default;
        var buffer = Segments.Of(input, 0, input.Length, cuts);
        var replies = new List<string>();
        try
        {
            while (parser.TryParse(ref buffer, out var reply))
            {
                replies.Add(Describe(reply));
                CheckReserialises(parser, reply);
            }
        }
        catch (SmtpProtocolException e)
        {
            replies.Add("!" + e.Message);
        }

        return replies;
    }

    private static void CheckReserialises(SmtpReplyParser parser, SmtpReply reply)
    {
        var written = new ArrayBufferWriter<byte>();
        reply.WriteTo(written);
        var again = new ReadOnlySequence<byte>(written.WrittenMemory);
        SmtpReply? reparsed = null;
        try
        {
            Check(parser.TryParse(ref again, out reparsed) && again.IsEmpty, "a reply written back is not one whole reply");
        }
        catch (SmtpProtocolException e)
        {
            Check(false, $"a reply written back does not parse: {e.Message}");
        }

        Check(Describe(reparsed!) == Describe(reply), $"a reply written back reads differently: {Describe(reply)} / {Describe(reparsed!)}");
    }

    private static string Describe(SmtpReply reply) => $"{reply.Code} {reply.EnhancedCode} [{string.Join("|", reply.Lines)}]";

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("ehlo", "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n250 CHUNKING\r\n"u8.ToArray()),
        ("enhanced", "250 2.0.0 Ok: queued as 4ABC\r\n451 4.3.0 Error: try again\r\n"u8.ToArray()),
        ("multi-code-change", "250-first\r\n251 second\r\n"u8.ToArray()),
        ("bare-lf", "220 mx ESMTP\n354 End data with <CR><LF>.<CR><LF>\n"u8.ToArray()),
        ("no-text", "250\r\n250-\r\n250 \r\n"u8.ToArray()),
        ("utf8", "550 5.1.1 <jürgen@example.de>: unknown\r\n"u8.ToArray()),
    ];
}
