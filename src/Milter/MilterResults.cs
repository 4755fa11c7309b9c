using System.Text;

namespace Detach.Milter;

/// <summary>How a message (or one stage of it) is answered.</summary>
public sealed record MilterVerdict
{
    private MilterVerdict(MilterReply code, string? reply)
    {
        Code = code;
        SmtpReply = reply;
    }

    public MilterReply Code { get; }

    /// <summary>The SMTP reply text for <see cref="MilterReply.ReplyCode"/>, e.g. "451 4.3.0 Storage failed".</summary>
    public string? SmtpReply { get; }

    /// <summary>Go on: send the next stage (at end of message: accept).</summary>
    public static MilterVerdict Continue { get; } = new(MilterReply.Continue, null);

    /// <summary>Accept the message; the MTA sends nothing more of it.</summary>
    public static MilterVerdict Accept { get; } = new(MilterReply.Accept, null);

    /// <summary>The MTA's own 4xx.</summary>
    public static MilterVerdict TempFail { get; } = new(MilterReply.TempFail, null);

    /// <summary>The MTA's own 5xx.</summary>
    public static MilterVerdict Reject { get; } = new(MilterReply.Reject, null);

    /// <summary>A 4xx or 5xx reply of our own, as the SMTP client will see it.</summary>
    public static MilterVerdict Reply(int code, string enhancedCode, string text)
    {
        if (code is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "A milter reply must be 4xx or 5xx.");
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(enhancedCode);
        ArgumentNullException.ThrowIfNull(text);
        if (enhancedCode[0] != (char)('0' + (code / 100)) || !Ascii.IsValid(text) || text.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException("The enhanced code must match the reply class and the text be one line of ASCII.", nameof(text));
        }

        // Sendmail reads the text as a printf format: a lone % must be doubled (Postfix undoes it).
        return new MilterVerdict(MilterReply.ReplyCode, $"{code} {enhancedCode} {text.Replace("%", "%%", StringComparison.Ordinal)}");
    }
}

public enum MilterHeaderEditKind
{
    /// <summary>SMFIR_CHGHEADER: the <see cref="MilterHeaderEdit.Index"/>-th field of that name (1-based); an empty value deletes it.</summary>
    Change,

    /// <summary>SMFIR_INSHEADER: a new field at <see cref="MilterHeaderEdit.Index"/> (0 = the top).</summary>
    Insert,

    /// <summary>SMFIR_ADDHEADER: a new field after the last one.</summary>
    Add,
}

/// <summary>
/// One header edit at end of message. <see cref="Value"/> is the field body as it follows the colon, leading space
/// included, with folded lines separated by LF or CRLF (sent with LF).
/// </summary>
public readonly record struct MilterHeaderEdit(MilterHeaderEditKind Kind, int Index, ReadOnlyMemory<byte> Name, ReadOnlyMemory<byte> Value)
{
    public static MilterHeaderEdit Change(int index, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value) =>
        new(MilterHeaderEditKind.Change, index, name, value);

    public static MilterHeaderEdit Delete(int index, ReadOnlyMemory<byte> name) =>
        new(MilterHeaderEditKind.Change, index, name, ReadOnlyMemory<byte>.Empty);

    public static MilterHeaderEdit Insert(int index, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value) =>
        new(MilterHeaderEditKind.Insert, index, name, value);

    public static MilterHeaderEdit Add(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value) =>
        new(MilterHeaderEditKind.Add, 0, name, value);

    public override string ToString() =>
        $"{Kind} {Index} {Encoding.UTF8.GetString(Name.Span)}:{Encoding.UTF8.GetString(Value.Span)}";
}

/// <summary>
/// The answer at end of message: header edits, a new body (sent in chunks of the negotiated size), then the verdict.
/// The session sends them in that order and disposes <see cref="ReplacementBody"/> afterwards.
/// </summary>
public sealed class MilterMessageResult(MilterVerdict verdict) : IAsyncDisposable
{
    public MilterVerdict Verdict { get; } = verdict;

    /// <summary>Applied by the MTA in this order.</summary>
    public IReadOnlyList<MilterHeaderEdit> HeaderEdits { get; init; } = [];

    /// <summary>The whole new body, read from its current position to its end; null leaves the body as it is.</summary>
    public Stream? ReplacementBody { get; init; }

    public ValueTask DisposeAsync() => ReplacementBody?.DisposeAsync() ?? ValueTask.CompletedTask;
}
