namespace Detach.Vault.Storage;

/// <summary>
/// Cancels an upload when the node stops taking bytes: armed while we wait on the node (HttpClient
/// blocked writing, or waiting for the answer after the last byte), paused while we wait on our
/// own source (a slow SMTP client is not a stalled node). Without it, a hung node would hold
/// an add for the whole transfer deadline.
/// </summary>
internal sealed class UploadWatchdog : IDisposable
{
    private readonly CancellationTokenSource _stalled = new();
    private readonly TimeSpan _idle;

    public UploadWatchdog(TimeSpan idle)
    {
        _idle = idle;
        Arm();
    }

    public CancellationToken Token => _stalled.Token;

    public bool HasFired => _stalled.IsCancellationRequested;

    public void Arm()
    {
        if (!_stalled.IsCancellationRequested)
        {
            _stalled.CancelAfter(_idle);
        }
    }

    public void Pause()
    {
        if (!_stalled.IsCancellationRequested)
        {
            _stalled.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _stalled.Dispose();
}

/// <summary>A write-through stream (not owned) that arms the watchdog before each write to the node.</summary>
internal sealed class WatchedWriteStream(Stream inner, UploadWatchdog watchdog) : WriteOnlyStream
{
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        watchdog.Arm();
        inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        watchdog.Arm();
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        watchdog.Arm();
        return inner.FlushAsync(cancellationToken);
    }

    public override void Flush() => inner.Flush();
}
