using System.Buffers;
using System.Text;
using Detach.Smtp;

namespace Detach.Fuzz.Targets;

/// <summary>
/// The command reader and the MAIL/RCPT/BDAT argument syntax, as the session uses them, on any byte stream.
/// </summary>
internal sealed class SmtpCommandTarget : FuzzTarget
{
    private const int MaxLine = 512;

    public override string Name => "smtp-command";

    public override string Invariant =>
        "the same commands whatever the TCP segmentation; each line is its input bytes less CR LF and within 512 octets; " +
        "a MAIL/RCPT/BDAT the session accepts re-serialises (as the relay client sends it) to a line that parses to the same command, with no CR, LF or NUL";

    public override void Run(byte[] input)
    {
        var whole = Read(input, [input.Length]);
        var trickled = Read(input, Segments.Trickle());
        Check(whole.Count == trickled.Count && whole.Zip(trickled).All(p => p.First.Equals(p.Second)), "the commands depend on how the input arrived");
        foreach (var e in whole)
        {
            if (e.Line is { } line)
            {
                var slice = input.AsSpan(e.Start, e.End - e.Start);
                Check(slice.StartsWith(line) && (slice[line.Length..].SequenceEqual("\n"u8) || slice[line.Length..].SequenceEqual("\r\n"u8)),
                    "a command line is not its input bytes less the line end");
                Check(line.Length + 2 <= MaxLine, "a command line over 512 octets was accepted");
                CheckCommand(line);
            }
        }
    }

    private readonly record struct LineEvent(int Start, int End, byte[]? Line)
    {
        public bool Equals(LineEvent other) => Start == other.Start && End == other.End &&
            (Line is null ? other.Line is null : other.Line is not null && Line.AsSpan().SequenceEqual(other.Line));

        public override int GetHashCode() => HashCode.Combine(Start, End);
    }

    /// <summary>The session's read loop: bytes arrive in pieces of the given sizes; a too-long line is one event (Line null).</summary>
    private static List<LineEvent> Read(byte[] input, IEnumerable<int> arrivals)
    {
        var events = new List<LineEvent>();
        var cuts = new List<int>();
        int available = 0, consumed = 0, skipFrom = -1;
        using var sizes = arrivals.GetEnumerator();
        while (available < input.Length && sizes.MoveNext())
        {
            available = Math.Min(input.Length, available + sizes.Current);
            cuts.Add(available);
            while (true)
            {
                var buffer = Segments.Of(input, consumed, available, cuts);
                var start = consumed;
                if (skipFrom >= 0)
                {
                    var done = SmtpCommandReader.SkipToLineEnd(ref buffer);
                    consumed = available - (int)buffer.Length;
                    if (!done)
                    {
                        break;
                    }

                    events.Add(new LineEvent(skipFrom, consumed, null));
                    skipFrom = -1;
                    continue;
                }

                var status = SmtpCommandReader.TryReadLine(ref buffer, MaxLine, out var line);
                if (status == LineStatus.Incomplete)
                {
                    break;
                }

                consumed = available - (int)buffer.Length;
                switch (status)
                {
                    case LineStatus.Complete:
                        events.Add(new LineEvent(start, consumed, line.ToArray()));
                        break;
                    case LineStatus.TooLongComplete:
                        events.Add(new LineEvent(start, consumed, null));
                        break;
                    default:
                        skipFrom = start;
                        break;
                }
            }
        }

        return events;
    }

    private static void CheckCommand(byte[] line)
    {
        if (Decode(line) is not { } text)
        {
            return;
        }

        var (verb, args) = Split(text);
        switch (verb)
        {
            case "MAIL":
                CheckPath(args, "FROM:", "MAIL FROM:");
                break;
            case "RCPT":
                CheckPath(args, "TO:", "RCPT TO:");
                break;
            case "BDAT" when BdatChunk.TryParse(args, out var chunk):
                var again = Split($"BDAT {chunk.Size}{(chunk.Last ? " LAST" : "")}").Args;
                Check(BdatChunk.TryParse(again, out var reparsed) && reparsed == chunk, "a BDAT command does not re-serialise");
                break;
        }
    }

    private static void CheckPath(string args, string prefix, string relayPrefix)
    {
        if (SmtpCommandSyntax.TryParsePathAndParameters(args, prefix, "5.5.4", out var path, out var raw, out var parameters) is not null)
        {
            return;
        }

        // What SmtpRelayClient sends for it.
        var relayed = $"{relayPrefix}<{path}>{(raw.Length > 0 ? " " + raw : "")}";
        Check(relayed.IndexOfAny(['\r', '\n', '\0']) < 0, $"a relayed {relayPrefix} carries CR, LF or NUL");
        var reread = Decode(Encoding.UTF8.GetBytes(relayed));
        Check(reread is not null, $"a relayed {relayPrefix} is not a command line");
        var error = SmtpCommandSyntax.TryParsePathAndParameters(Split(reread!).Args, prefix, "5.5.4", out var path2, out var raw2, out var parameters2);
        Check(error is null && path2 == path && raw2 == raw && parameters2.SequenceEqual(parameters),
            $"{relayPrefix}<{path}> {raw} re-parses as {(error?.ToString() ?? $"<{path2}> {raw2}")}");
    }

    private static string? Decode(byte[] line) => SmtpSession.Decode(new ReadOnlySequence<byte>(line));

    /// <summary>As the session's dispatch: verb up to the first space, upper-cased; arguments trimmed of spaces.</summary>
    private static (string Verb, string Args) Split(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return ((space < 0 ? line : line[..space]).ToUpperInvariant(), space < 0 ? "" : line[(space + 1)..].Trim(' '));
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("session", "EHLO client.example\r\nMAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME\r\nRCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net\r\nDATA\r\n"u8.ToArray()),
        ("null-sender", "MAIL FROM:<> SMTPUTF8\r\nRCPT TO:<\"quoted > local\"@example.net>\r\n"u8.ToArray()),
        ("bare-path", "MAIL FROM:a@example.org\nRCPT TO: <b@example.net>\r\nRSET\r\n"u8.ToArray()),
        ("bdat", "BDAT 12\r\nBDAT 0 LAST\r\nBDAT 5 last\r\n"u8.ToArray()),
        ("long-line", Encoding.ASCII.GetBytes("MAIL FROM:<" + new string('x', 600) + ">\r\nNOOP\r\n")),
        ("xforward", "XFORWARD NAME=client.example ADDR=192.0.2.1 PROTO=ESMTP\r\nQUIT\r\n"u8.ToArray()),
    ];
}
