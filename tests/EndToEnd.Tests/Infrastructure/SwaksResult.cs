namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>One command of a transcript and the reply it got. <c>.</c> stands for the end of the message data.</summary>
public sealed record SmtpExchange(string Command, int Code, string Text)
{
    public bool IsPositive => Code is >= 200 and < 400;

    public override string ToString() => $"{Command} -> {Code} {Text}";
}

/// <summary>What swaks did: exit code (0 = every step accepted) and the SMTP transcript, paired up.</summary>
public sealed class SwaksResult
{
    /// <summary>The command standing for the end of the message data in <see cref="Exchanges"/>.</summary>
    public const string EndOfData = ".";

    public SwaksResult(int exitCode, string transcript)
    {
        ExitCode = exitCode;
        Transcript = transcript;
        Exchanges = Pair(transcript);
    }

    /// <summary>swaks' exit code: 0 all good, 23 MAIL refused, 24 no RCPT accepted, 25 DATA refused, 26 data refused...</summary>
    public int ExitCode { get; }

    /// <summary>swaks' whole output: <c> -&gt;</c> lines sent, <c>&lt;-</c> replies, <c>&lt;**</c> error replies.</summary>
    public string Transcript { get; }

    /// <summary>Commands paired with their replies, in order; the banner is paired with an empty command.</summary>
    public IReadOnlyList<SmtpExchange> Exchanges { get; }

    /// <summary>The first exchange whose command starts with <paramref name="commandStart"/> (case-insensitive).</summary>
    public SmtpExchange ReplyTo(string commandStart) =>
        Exchanges.FirstOrDefault(e => e.Command.StartsWith(commandStart, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidOperationException($"No command starting with \"{commandStart}\" in the transcript:\n{Transcript}");

    /// <summary>The reply to RCPT TO:&lt;<paramref name="address"/>&gt;.</summary>
    public SmtpExchange ReplyToRecipient(string address) => ReplyTo($"RCPT TO:<{address}>");

    /// <summary>The replies after the message data: one for SMTP, one per accepted recipient for LMTP.</summary>
    public IReadOnlyList<SmtpExchange> DataReplies => Exchanges.Where(e => e.Command == EndOfData).ToArray();

    public override string ToString() => $"swaks exit {ExitCode}\n{Transcript}";

    private static List<SmtpExchange> Pair(string transcript)
    {
        var exchanges = new List<SmtpExchange>();
        var pending = new Queue<string>();
        var lastCommand = string.Empty;
        var inData = false;
        var replyLines = new List<string>();
        var bannerSeen = false;

        foreach (var raw in transcript.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith(" -> ", StringComparison.Ordinal) || line.StartsWith(" ~> ", StringComparison.Ordinal))
            {
                // Message lines are not commands; the reply after them answers the end of data.
                if (!inData)
                {
                    pending.Enqueue(line[4..]);
                }

                continue;
            }

            var isReply = line.StartsWith("<-  ", StringComparison.Ordinal)
                || line.StartsWith("<** ", StringComparison.Ordinal)
                || line.StartsWith("<~  ", StringComparison.Ordinal)
                || line.StartsWith("<~* ", StringComparison.Ordinal);
            if (!isReply)
            {
                continue;
            }

            var text = line[4..];
            replyLines.Add(text);
            if (text.Length > 3 && text[3] == '-')
            {
                continue;
            }

            var code = text.Length >= 3 && int.TryParse(text.AsSpan(0, 3), out var parsed) ? parsed : 0;
            var joined = string.Join('\n', replyLines.Select(l => l.Length > 4 ? l[4..] : string.Empty));
            replyLines.Clear();

            string command;
            if (!bannerSeen)
            {
                bannerSeen = true;
                command = string.Empty;
            }
            else if (inData)
            {
                command = EndOfData;
                inData = false;
            }
            else if (pending.Count > 0)
            {
                command = pending.Dequeue();
            }
            else
            {
                // LMTP answers the end of data once per recipient.
                command = lastCommand;
            }

            if (code == 354)
            {
                inData = true;
            }

            lastCommand = command;
            exchanges.Add(new SmtpExchange(command, code, joined));
        }

        return exchanges;
    }
}
