using System.Buffers;
using System.IO.Pipelines;

namespace Detach.Smtp;

/// <summary>
/// The message after DATA, as a read-only stream: undoes dot-stuffing, keeps every CRLF (the message
/// ends with the CRLF before the final dot) and stops at CRLF.CRLF; nothing after it is consumed, so
/// pipelined commands stay in the pipe. Only CRLF starts a line: a bare LF followed by "." does not end
/// the data (SMTP smuggling). The size and line limits make reads throw <see cref="SmtpException"/>
/// (552 5.3.4 / 500 5.5.2); the session then drains to the end and answers with that reply. A connection
/// closed or timed out before the final dot makes reads throw <see cref="IOException"/>: the message is
/// never seen as complete.
/// </summary>
public sealed class DotReader : Stream
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

    private readonly PipeReader _input;
    private readonly long _maxMessageSize;
    private readonly int _maxLineLength;
    private readonly TimeSpan _readTimeout;
    private readonly CancellationTokenSource _timeout;
    private State _state = State.BeginLine;
    private long _size;
    private int _lineLength;
    private bool _discard;
    private Exception? _fault;

    /// <param name="maxLineLength">Longest text line on the wire, CRLF included (RFC 5321: 1000); 0 for no limit.</param>
    /// <param name="readTimeout">Longest wait for more bytes from the client.</param>
    public DotReader(PipeReader input, long maxMessageSize, int maxLineLength, TimeSpan readTimeout, CancellationToken sessionToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        _input = input;
        _maxMessageSize = maxMessageSize;
        _maxLineLength = maxLineLength;
        _readTimeout = readTimeout;
        _timeout = CancellationTokenSource.CreateLinkedTokenSource(sessionToken);
    }

    /// <summary>True once CRLF.CRLF was read.</summary>
    public bool IsCompleted => _state == State.Eof;

    /// <summary>The reply the session must give instead of the backend's (size or line limit), or null.</summary>
    public SmtpReply? LimitError { get; private set; }

    /// <summary>The connection failed (closed, timed out) before the end of data.</summary>
    public bool IsBroken => _fault is not null;

    public bool TimedOut { get; private set; }

    /// <summary>Unstuffed message octets read so far.</summary>
    public long MessageSize => _size;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    // Blocking reads would park a thread per slow client; the session is async all the way.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("DotReader is async only: use ReadAsync or CopyToAsync.");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

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
            _input.AdvanceTo(input.Start);
            ThrowIfFailed();
            if (written > 0 || _state == State.Eof)
            {
                return written;
            }

            if (result.IsCompleted && input.IsEmpty)
            {
                throw Fail(new EndOfStreamException("The client closed the connection before the end of DATA."));
            }
        }
    }

    /// <summary>Reads and throws away the rest of the message up to the final dot.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (_fault is not null)
        {
            throw new IOException("The connection failed during DATA.", _fault);
        }

        _discard = true;
        while (_state != State.Eof)
        {
            ReadResult result = await ReadInputAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> input = result.Buffer;
            Process(ref input, default);
            _input.AdvanceTo(input.Start);
            if (_state != State.Eof && result.IsCompleted && input.IsEmpty)
            {
                throw Fail(new EndOfStreamException("The client closed the connection before the end of DATA."));
            }
        }
    }

    private async ValueTask<ReadResult> ReadInputAsync(CancellationToken cancellationToken)
    {
        if (_input.TryRead(out ReadResult ready))
        {
            if (!ready.Buffer.IsEmpty || ready.IsCompleted)
            {
                return ready;
            }

            _input.AdvanceTo(ready.Buffer.Start);
        }

        using CancellationTokenRegistration link = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _timeout);
        _timeout.CancelAfter(_readTimeout);
        try
        {
            return await _input.ReadAsync(_timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            TimedOut = true;
            throw Fail(new TimeoutException("Timed out waiting for message data.", e));
        }
        catch (OperationCanceledException e)
        {
            throw Fail(new OperationCanceledException("DATA was cancelled.", e, cancellationToken));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            throw Fail(new IOException("The connection failed during DATA.", e));
        }
        finally
        {
            _timeout.TryReset();
        }
    }

    private Exception Fail(Exception e)
    {
        _fault ??= e;
        return e;
    }

    private void ThrowIfFailed()
    {
        if (_fault is not null)
        {
            throw _fault is OperationCanceledException or TimeoutException ? _fault : new IOException(_fault.Message, _fault);
        }

        if (LimitError is not null)
        {
            throw new SmtpException(LimitError);
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
                    // Fast path: copy up to the next CR in one go.
                    ReadOnlySpan<byte> rest = span[pos..];
                    int cr = rest.IndexOf((byte)'\r');
                    int run = cr < 0 ? rest.Length : cr;
                    if (!discard)
                    {
                        run = Math.Min(run, output.Length - written);
                    }

                    if (run > 0)
                    {
                        if (!discard)
                        {
                            rest[..run].CopyTo(output[written..]);
                            written += run;
                        }

                        pos += run;
                        Count(run, run);
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
        _size += messageBytes;
        if (LimitError is not null)
        {
            return;
        }

        if (_maxLineLength > 0 && _lineLength > _maxLineLength)
        {
            LimitError = new SmtpReply(500, "5.5.2", "Error: message line too long");
        }
        else if (_size > _maxMessageSize)
        {
            LimitError = new SmtpReply(552, "5.3.4", "Error: message file too big");
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timeout.Dispose();
        }

        base.Dispose(disposing);
    }
}
