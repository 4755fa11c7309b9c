using System.Buffers;
using System.IO.Pipelines;

namespace Detach.Smtp;

/// <summary>
/// The message after DATA: undoes dot-stuffing, keeps every CRLF (the message ends with the CRLF before the
/// final dot) and stops at CRLF.CRLF; nothing after it is consumed, so pipelined commands stay in the pipe.
/// Only CRLF starts a line: a bare LF followed by "." does not end the data (SMTP smuggling). Limits: size
/// (552 5.3.4) and text line length (500 5.5.2), see <see cref="SmtpMessageReader"/>.
/// </summary>
internal sealed class DotReader : SmtpMessageReader
{
    private enum State
    {
        BeginLine,
        Dot,
        DotCr,
        Cr,
        Data,
        Eof,
    }

    private readonly int _maxLineLength;
    private State _state = State.BeginLine;
    private int _lineLength;
    private bool _discard;

    /// <param name="maxLineLength">Longest text line on the wire, CRLF included (RFC 5321: 1000); 0 for no limit.</param>
    /// <param name="deadline">How long to wait for the client's bytes, in all and at once.</param>
    public DotReader(PipeReader input, long maxMessageSize, int maxLineLength, DataDeadline deadline, CancellationToken sessionToken)
        : base(input, maxMessageSize, deadline, sessionToken)
    {
        _maxLineLength = maxLineLength;
    }

    /// <summary>True once CRLF.CRLF was read.</summary>
    public override bool IsCompleted => _state == State.Eof;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        if (_state == State.Eof || buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            ReadResult result = await ReadInputAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> input = result.Buffer;
            int written = Process(ref input, buffer.Span);
            Input.AdvanceTo(input.Start);
            ThrowIfFailed();
            if (written > 0 || _state == State.Eof)
            {
                return written;
            }

            if (result.IsCompleted && input.IsEmpty)
            {
                throw ClosedEarly();
            }
        }
    }

    /// <summary>Reads and throws away the rest of the message up to the final dot.</summary>
    public override async Task DrainAsync(CancellationToken cancellationToken)
    {
        ThrowIfBroken();
        _discard = true;
        while (_state != State.Eof)
        {
            ReadResult result = await ReadInputAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> input = result.Buffer;
            Process(ref input, default);
            Input.AdvanceTo(input.Start);
            if (_state != State.Eof && result.IsCompleted && input.IsEmpty)
            {
                throw ClosedEarly();
            }
        }
    }

    /// <summary>Runs the state machine over <paramref name="input"/>, writing unstuffed bytes to <paramref name="output"/> unless discarding.</summary>
    private int Process(ref ReadOnlySequence<byte> input, Span<byte> output)
    {
        int written = 0;
        long consumed = 0;
        foreach (ReadOnlyMemory<byte> segment in input)
        {
            ReadOnlySpan<byte> span = segment.Span;
            int pos = 0;
            bool stop = false;
            while (pos < span.Length)
            {
                bool discard = _discard || LimitError is not null;
                if (_state == State.Eof || (!discard && written == output.Length))
                {
                    stop = true;
                    break;
                }

                if (_state == State.Data)
                {
                    ReadOnlySpan<byte> rest = span[pos..];
                    if (!discard)
                    {
                        rest = rest[..Math.Min(rest.Length, output.Length - written)];
                    }

                    int run = DataRun(rest);
                    if (run > 0)
                    {
                        if (!discard)
                        {
                            rest[..run].CopyTo(output[written..]);
                            written += run;
                        }

                        pos += run;
                        CountMessageBytes(run);
                        continue;
                    }
                }

                byte c = span[pos];
                switch (_state)
                {
                    case State.BeginLine:
                        _lineLength = 0;
                        if (c == (byte)'.')
                        {
                            _state = State.Dot;
                            pos++;
                            Count(1, 0);
                            continue;
                        }

                        _state = State.Data;
                        break;
                    case State.Dot:
                        if (c == (byte)'\r')
                        {
                            _state = State.DotCr;
                            pos++;
                            Count(1, 0);
                            continue;
                        }

                        // A stuffed dot: dropped; the byte after it is ordinary data.
                        _state = State.Data;
                        break;
                    case State.DotCr:
                        if (c == (byte)'\n')
                        {
                            _state = State.Eof;
                            pos++;
                            continue;
                        }

                        // ".\r" then not LF: the CR is data; the dot was stuffing.
                        Emit((byte)'\r', output, ref written, discard);
                        _state = State.Data;
                        continue;
                    case State.Cr:
                        Emit(c, output, ref written, discard);
                        pos++;
                        _state = c switch
                        {
                            (byte)'\n' => State.BeginLine,
                            (byte)'\r' => State.Cr,
                            _ => State.Data,
                        };
                        continue;
                    case State.Data:
                        // Only a CR reaches here (the fast path took the rest).
                        Emit(c, output, ref written, discard);
                        pos++;
                        _state = State.Cr;
                        continue;
                }
            }

            consumed += pos;
            if (stop)
            {
                break;
            }
        }

        input = input.Slice(consumed);
        return written;
    }

    /// <summary>
    /// Fast path: the length of the data at the start of <paramref name="rest"/> that needs no state machine, whole lines
    /// included, so that a body of ordinary lines goes out in one copy. It stops at a CR that does not end a line
    /// within the limit with the next line's first byte in view and not a dot; the state machine takes that one.
    /// </summary>
    private int DataRun(ReadOnlySpan<byte> rest)
    {
        int run = 0;
        while (true)
        {
            int cr = rest[run..].IndexOf((byte)'\r');
            if (cr < 0)
            {
                _lineLength += rest.Length - run;
                CheckLineLength();
                return rest.Length;
            }

            int lineEnd = run + cr;
            if (lineEnd + 2 >= rest.Length || rest[lineEnd + 1] != (byte)'\n' || rest[lineEnd + 2] == (byte)'.'
                || (_maxLineLength > 0 && _lineLength + cr + 2 > _maxLineLength))
            {
                _lineLength += cr;
                CheckLineLength();
                return lineEnd;
            }

            // A whole line, CRLF included; the next one starts with ordinary data.
            _lineLength = 0;
            run = lineEnd + 2;
        }
    }

    private void CheckLineLength()
    {
        if (LimitError is null && _maxLineLength > 0 && _lineLength > _maxLineLength)
        {
            LimitError = new SmtpReply(500, "5.5.2", "Error: message line too long");
        }
    }

    private void Emit(byte c, Span<byte> output, ref int written, bool discard)
    {
        if (!discard)
        {
            output[written++] = c;
        }

        Count(1, 1);
    }

    private void Count(int wireBytes, int messageBytes)
    {
        _lineLength += wireBytes;
        CheckLineLength();
        CountMessageBytes(messageBytes);
    }
}
