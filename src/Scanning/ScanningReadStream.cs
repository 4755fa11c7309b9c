using System.Diagnostics;
using System.IO.Pipelines;

namespace Detach.Scanning;

/// <summary>How one scan ended: a verdict, or the reason there is none.</summary>
public sealed record ScanOutcome(ScanVerdict? Verdict, ScannerException? Failure, TimeSpan Elapsed);

/// <summary>
/// Content read once, by two: whoever reads this stream (the encryptor on its way to the store) gets the source's
/// bytes, and a scanner gets the same bytes at the same time through a bounded pipe, so neither waits for the other
/// beyond the pipe's size. The reader sees the end of the content only once the scanner has answered and
/// <c>decide</c> accepted the outcome; when <c>decide</c> returns an exception instead, that read (and every later
/// one) throws it, so a store that reads to the end never commits refused content.
/// </summary>
public sealed class ScanningReadStream : Stream
{
    /// <summary>At most this much waits in the pipe for the scanner; then the reader waits too.</summary>
    internal const int PipeBytes = 512 * 1024;

    private readonly Stream source;
    private readonly Func<ScanOutcome, Exception?> decide;
    private readonly Pipe pipe = new(new PipeOptions(pauseWriterThreshold: PipeBytes, resumeWriterThreshold: PipeBytes / 2, useSynchronizationContext: false));
    private readonly CancellationTokenSource abandon;
    private bool scannerReading = true;
    private bool ended;
    private Exception? refusal;
    private long position;

    /// <param name="source">The content; read once, not disposed here.</param>
    /// <param name="scanner">Gets the same bytes, starting now.</param>
    /// <param name="decide">Given the outcome once the content ended: null to let the reader finish, or the exception to throw.</param>
    public ScanningReadStream(Stream source, IContentScanner scanner, Func<ScanOutcome, Exception?> decide, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(scanner);
        ArgumentNullException.ThrowIfNull(decide);
        this.source = source;
        this.decide = decide;
        abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Outcome = ScanAsync(scanner, abandon.Token);
    }

    /// <summary>Completes when the scanner has answered, or failed to.</summary>
    public Task<ScanOutcome> Outcome { get; }

    /// <summary>The exception <c>decide</c> chose, once it refused the content.</summary>
    public Exception? Refusal => refusal;

    private async Task<ScanOutcome> ScanAsync(IContentScanner scanner, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        var content = pipe.Reader.AsStream(leaveOpen: true);
        try
        {
            var verdict = await scanner.ScanAsync(content, cancellationToken).ConfigureAwait(false);
            return new ScanOutcome(verdict, null, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception e)
        {
            var failure = e as ScannerException ?? new ScannerException($"{scanner.Name}: {e.Message}", e);
            return new ScanOutcome(null, failure, Stopwatch.GetElapsedTime(started));
        }
        finally
        {
            // The reader stops copying into the pipe once the scanner no longer reads it.
            await pipe.Reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (refusal is not null)
        {
            throw refusal;
        }

        if (ended || buffer.IsEmpty)
        {
            return 0;
        }

        var read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
        {
            if (scannerReading)
            {
                var flushed = await pipe.Writer.WriteAsync(buffer[..read], cancellationToken).ConfigureAwait(false);
                scannerReading = !flushed.IsCompleted;
            }

            position += read;
            return read;
        }

        await pipe.Writer.CompleteAsync().ConfigureAwait(false);
        var outcome = await Outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
        refusal = decide(outcome);
        if (refusal is not null)
        {
            throw refusal;
        }

        ended = true;
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => position;
        set => throw new NotSupportedException();
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
            if (!ended && refusal is null)
            {
                // The reader gave up before the end: the scan is moot, so stop it rather than wait for clamd.
                pipe.Writer.Complete(new OperationCanceledException("The content was abandoned before its end."));
                abandon.Cancel();
            }

            abandon.Dispose();
        }

        base.Dispose(disposing);
    }
}
