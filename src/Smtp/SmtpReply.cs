using System.Buffers;
using System.Text;

namespace Detach.Smtp;

/// <summary>
/// One SMTP reply: a three-digit code, an optional RFC 3463 enhanced status code and one or more text lines.
/// Replies read from a next hop keep their text so a proxy can hand them back verbatim.
/// </summary>
public sealed class SmtpReply
{
    private static readonly string[] EmptyText = [""];

    public SmtpReply(int code, string? enhancedCode, IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (code is < 200 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "SMTP reply codes are 200-599.");
        }

        if (enhancedCode is not null && !EnhancedStatusCode.IsValid(enhancedCode))
        {
            throw new ArgumentException("Not an RFC 3463 status code (class.subject.detail).", nameof(enhancedCode));
        }

        foreach (string line in lines)
        {
            if (line is null || line.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new ArgumentException("Reply lines cannot be null or contain CR or LF.", nameof(lines));
            }
        }

        Code = code;
        EnhancedCode = enhancedCode;
        Lines = lines.Count == 0 ? EmptyText : lines.ToArray();
    }

    public SmtpReply(int code, string? enhancedCode, string text)
        : this(code, enhancedCode, [text])
    {
    }

    public int Code { get; }

    /// <summary>"class.subject.detail" such as "2.0.0", or null when the reply carries none.</summary>
    public string? EnhancedCode { get; }

    /// <summary>Text lines without code or enhanced code; never empty.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>2yz: the command succeeded.</summary>
    public bool IsPositiveCompletion => Code is >= 200 and < 300;

    /// <summary>3yz: the server waits for more (354 after DATA).</summary>
    public bool IsPositiveIntermediate => Code is >= 300 and < 400;

    /// <summary>4yz: try again later.</summary>
    public bool IsTransientFailure => Code is >= 400 and < 500;

    /// <summary>5yz: do not retry.</summary>
    public bool IsPermanentFailure => Code >= 500;

    /// <summary>The text of all lines joined by a space, handy for logs and exception messages.</summary>
    public string Text => string.Join(' ', Lines);

    /// <summary>Writes the reply with '-' continuation lines, each line ending in CRLF.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        for (int i = 0; i < Lines.Count; i++)
        {
            bool last = i == Lines.Count - 1;
            WriteLine(output, Lines[i], last);
        }
    }

    private void WriteLine(IBufferWriter<byte> output, string line, bool last)
    {
        int max = 5 + (EnhancedCode?.Length + 1 ?? 0) + Encoding.UTF8.GetMaxByteCount(line.Length) + 2;
        Span<byte> span = output.GetSpan(max);
        int n = 0;
        span[n++] = (byte)('0' + (Code / 100));
        span[n++] = (byte)('0' + (Code / 10 % 10));
        span[n++] = (byte)('0' + (Code % 10));
        bool hasText = EnhancedCode is not null || line.Length > 0;
        if (!last || hasText)
        {
            span[n++] = last ? (byte)' ' : (byte)'-';
        }

        if (EnhancedCode is not null)
        {
            n += Encoding.ASCII.GetBytes(EnhancedCode, span[n..]);
            if (line.Length > 0)
            {
                span[n++] = (byte)' ';
            }
        }

        n += Encoding.UTF8.GetBytes(line, span[n..]);
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        output.Advance(n);
    }

    /// <summary>The reply as it goes on the wire (lines joined by CRLF, final CRLF included).</summary>
    public override string ToString()
    {
        var buffer = new ArrayBufferWriter<byte>();
        WriteTo(buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Parses one complete reply such as "250-first\r\n250 last\r\n".</summary>
    public static SmtpReply Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sequence = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text));
        if (!SmtpReplyParser.Default.TryParse(ref sequence, out SmtpReply? reply) || !sequence.IsEmpty)
        {
            throw new SmtpProtocolException("Not exactly one complete SMTP reply.");
        }

        return reply;
    }
}
