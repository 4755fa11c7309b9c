using System.Buffers;
using System.Text;

namespace Detach.Smtp;

/// <summary>
/// Parses SMTP replies out of a byte sequence, pipe style: a complete reply is consumed from the
/// buffer, an incomplete one leaves it untouched so the caller reads more. Malformed input throws
/// <see cref="SmtpProtocolException"/>: non-digit codes, codes that change across '-' lines,
/// lines longer than the cap (checked before the line ends, so memory stays bounded) and too many lines.
/// </summary>
public sealed class SmtpReplyParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public SmtpReplyParser(int maxLineLength = 2048, int maxLines = 200)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLines, 1);
        MaxLineLength = maxLineLength;
        MaxLines = maxLines;
    }

    public static SmtpReplyParser Default { get; } = new();

    /// <summary>Longest reply line accepted, CRLF included.</summary>
    public int MaxLineLength { get; }

    public int MaxLines { get; }

    public bool TryParse(ref ReadOnlySequence<byte> buffer, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SmtpReply? reply)
    {
        reply = null;
        var reader = new SequenceReader<byte>(buffer);
        int code = 0;
        var texts = new List<string>(1);
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> lineBytes, (byte)'\n', advancePastDelimiter: true))
            {
                if (reader.Remaining > MaxLineLength)
                {
                    throw new SmtpProtocolException($"Reply line longer than {MaxLineLength} octets.");
                }

                return false;
            }

            if (lineBytes.Length + 1 > MaxLineLength)
            {
                throw new SmtpProtocolException($"Reply line longer than {MaxLineLength} octets.");
            }

            if (texts.Count == MaxLines)
            {
                throw new SmtpProtocolException($"Reply has more than {MaxLines} lines.");
            }

            (int lineCode, bool last, string text) = ParseLine(lineBytes);
            if (texts.Count > 0 && lineCode != code)
            {
                throw new SmtpProtocolException($"Reply code changed from {code} to {lineCode} inside a multiline reply.");
            }

            code = lineCode;
            texts.Add(text);
            if (last)
            {
                break;
            }
        }

        reply = Build(code, texts);
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    private static (int Code, bool Last, string Text) ParseLine(ReadOnlySequence<byte> lineBytes)
    {
        int length = (int)lineBytes.Length;
        byte[]? rented = null;
        Span<byte> line = length <= 512 ? stackalloc byte[length] : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        try
        {
            lineBytes.CopyTo(line);
            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.Length < 3 || line[0] is < (byte)'2' or > (byte)'5' || !IsDigit(line[1]) || !IsDigit(line[2]))
            {
                throw new SmtpProtocolException("Reply does not start with a three-digit code 2yz-5yz.");
            }

            int code = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
            if (line.Length == 3)
            {
                return (code, true, "");
            }

            bool last = line[3] switch
            {
                (byte)' ' => true,
                (byte)'-' => false,
                _ => throw new SmtpProtocolException("Reply code is not followed by a space or '-'."),
            };

            string text;
            try
            {
                text = StrictUtf8.GetString(line[4..]);
            }
            catch (DecoderFallbackException e)
            {
                throw new SmtpProtocolException("Reply text is not UTF-8.", e);
            }

            if (text.Contains('\r', StringComparison.Ordinal) || text.Contains('\0', StringComparison.Ordinal))
            {
                throw new SmtpProtocolException("Reply text contains a CR or NUL.");
            }

            return (code, last, text);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    /// <summary>
    /// Takes the enhanced status code off the lines that carry it, when the first line has one whose
    /// class matches the reply code; the lines keep their exact text otherwise.
    /// </summary>
    private static SmtpReply Build(int code, List<string> texts)
    {
        int length = EnhancedStatusCode.Match(texts[0]);
        if (length == 0 || texts[0][0] - '0' != code / 100 || (texts[0].Length > length && texts[0][length] != ' '))
        {
            return new SmtpReply(code, null, texts);
        }

        string enhanced = texts[0][..length];
        for (int i = 0; i < texts.Count; i++)
        {
            string t = texts[i];
            if (t.StartsWith(enhanced, StringComparison.Ordinal) && (t.Length == length || t[length] == ' '))
            {
                texts[i] = t.Length == length ? "" : t[(length + 1)..];
            }
        }

        return new SmtpReply(code, enhanced, texts);
    }
}
