using System.Diagnostics;
using System.IO.Pipelines;

namespace Detach.Smtp;

/// <summary>
/// The message a client sends, as a read-only stream that ends where the message does: after DATA
/// (<see cref="DotReader"/>) or across BDAT chunks (<see cref="BdatReader"/>). Nothing after the message is consumed.
/// A size or line limit makes reads throw <see cref="SmtpException"/> with <see cref="LimitError"/>; the session then
/// drains to the end and answers with that reply. A connection closed or timed out before the end makes reads throw
/// <see cref="IOException"/> (<see cref="IsBroken"/>): the message is never seen as complete.
/// </summary>
internal abstract class SmtpMessageReader : ReadOnlyStream
{
    private readonly DataDeadline _deadline;
    private readonly CancellationTokenSource _timeout;
    private Exception? _fault;

    /// <param name="deadline">How long the reader may wait for the client's bytes, in all and at once.</param>
    protected SmtpMessageReader(PipeReader input, long maxMessageSize, DataDeadline deadline, CancellationToken sessionToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(deadline);
        Input = input;
        MaxMessageSize = maxMessageSize;
        _deadline = deadline;
        _timeout = CancellationTokenSource.CreateLinkedTokenSource(sessionToken);
    }

    protected PipeReader Input { get; }

    protected long MaxMessageSize { get; }

    /// <summary>True once the end of the message was read.</summary>
    public abstract bool IsCompleted { get; }

    /// <summary>The reply the session must give instead of the backend's (size or line limit), or null.</summary>
    public SmtpReply? LimitError { get; protected set; }

    /// <summary>The connection failed (closed, timed out) before the end of the message.</summary>
    public bool IsBroken => _fault is not null;

    public bool TimedOut { get; private set; }

    /// <summary>Message octets read so far.</summary>
    public long MessageSize { get; protected set; }

    /// <summary>Reads and throws away the rest of the message.</summary>
    public abstract Task DrainAsync(CancellationToken cancellationToken);

    // Blocking reads would park a thread per slow client; the session is async all the way.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Message readers are async only: use ReadAsync or CopyToAsync.");

    /// <summary>What is buffered, or the next bytes from the client within the deadline.</summary>
    protected async ValueTask<ReadResult> ReadInputAsync(CancellationToken cancellationToken)
    {
        if (Input.TryRead(out ReadResult ready))
        {
            if (!ready.Buffer.IsEmpty || ready.IsCompleted)
            {
                return ready;
            }

            Input.AdvanceTo(ready.Buffer.Start);
        }

        using CancellationTokenRegistration link = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _timeout);
        long started = Stopwatch.GetTimestamp();
        try
        {
            if (_deadline.IsExpired)
            {
                throw new OperationCanceledException();
            }

            _timeout.CancelAfter(_deadline.Remaining);
            ReadResult result = await Input.ReadAsync(_timeout.Token).ConfigureAwait(false);

            // Everything buffered was consumed before this read: what it returns arrived while waiting.
            _deadline.Record(Stopwatch.GetElapsedTime(started), result.Buffer.Length);
            return result;
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            TimedOut = true;
            throw Fail(new TimeoutException("Timed out waiting for message data (the client stopped, or sends slower than the minimum rate).", e));
        }
        catch (OperationCanceledException e)
        {
            throw Fail(new OperationCanceledException("Receiving the message was cancelled.", e, cancellationToken));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            throw Fail(new IOException("The connection failed while receiving the message.", e));
        }
        finally
        {
            _timeout.TryReset();
        }
    }

    /// <summary>Records the first failure; every later read throws it again.</summary>
    protected Exception Fail(Exception e)
    {
        _fault ??= e;
        return e;
    }

    protected EndOfStreamException ClosedEarly() =>
        (EndOfStreamException)Fail(new EndOfStreamException("The client closed the connection before the end of the message."));

    protected void ThrowIfFailed()
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

    protected void ThrowIfBroken()
    {
        if (_fault is not null)
        {
            throw new IOException("The connection failed while receiving the message.", _fault);
        }
    }

    /// <summary>Counts message octets; past the size limit the reply becomes 552 5.3.4.</summary>
    protected void CountMessageBytes(long count)
    {
        MessageSize += count;
        if (LimitError is null && MessageSize > MaxMessageSize)
        {
            LimitError = new SmtpReply(552, "5.3.4", "Error: message file too big");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timeout.Dispose();
        }

        base.Dispose(disposing);
    }
}
