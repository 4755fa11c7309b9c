using System.Diagnostics;
using System.IO.Pipelines;

namespace Detach.Scanning;

/// <summary>How one scan ended: a verdict, or the reason there is none.</summary>
public sealed record ScanOutcome(ScanVerdict? Verdict, ScannerException? Failure, TimeSpan Elapsed);

/// <summary>
/// A scan fed with content as it passes by on its way somewhere else (the encryptor, the store): each
/// <see cref="WriteAsync"/> hands the bytes to the scanner through a bounded pipe the scanner drains at the same
/// time, so the content is read once and neither side waits for the other beyond the pipe's size.
/// <see cref="CompleteAsync"/> ends the content and waits for the verdict. When the scanner stops reading early (its
/// size limit, or a failure) the writes go on and the bytes are dropped. Disposing before completion cancels the scan.
/// </summary>
public sealed class ConcurrentScan : IAsyncDisposable
{
    /// <summary>At most this much waits in the pipe for the scanner; then the writer waits too.</summary>
    internal const int PipeBytes = 512 * 1024;

    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: PipeBytes, resumeWriterThreshold: PipeBytes / 2, useSynchronizationContext: false));
    private readonly CancellationTokenSource _abandon;
    private readonly Task<ScanOutcome> _outcome;
    private bool _scannerReading = true;
    private bool _completed;

    /// <summary>Starts <paramref name="scanner"/> on the content to come.</summary>
    public ConcurrentScan(IContentScanner scanner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scanner);
        _abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _outcome = ScanAsync(scanner, _abandon.Token);
    }

    private async Task<ScanOutcome> ScanAsync(IContentScanner scanner, CancellationToken cancellationToken)
    {
        // The caller goes on at once; the scanner's connect and reads run beside it.
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        try
        {
            var verdict = await scanner.ScanAsync(_pipe.Reader.AsStream(leaveOpen: true), cancellationToken).ConfigureAwait(false);
            return new ScanOutcome(verdict, null, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception e)
        {
            var failure = e as ScannerException ?? new ScannerException($"{scanner.Name}: {e.Message}", e);
            return new ScanOutcome(null, failure, Stopwatch.GetElapsedTime(started));
        }
        finally
        {
            // Writes stop copying once the scanner no longer reads.
            await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The next bytes of the content; waits only while the pipe is full.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_scannerReading && !content.IsEmpty)
        {
            var flushed = await _pipe.Writer.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            _scannerReading = !flushed.IsCompleted;
        }
    }

    /// <summary>The content has ended: the scanner's outcome, once it has one.</summary>
    public async Task<ScanOutcome> CompleteAsync(CancellationToken cancellationToken)
    {
        if (!_completed)
        {
            _completed = true;
            await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
        }

        return await _outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            // The content was abandoned before its end: the verdict is moot, so stop the scan rather than wait for it.
            _completed = true;
            await _pipe.Writer.CompleteAsync(new OperationCanceledException("The content was abandoned before its end.")).ConfigureAwait(false);
            await _abandon.CancelAsync().ConfigureAwait(false);
        }

        await _outcome.ConfigureAwait(false);
        _abandon.Dispose();
    }
}
