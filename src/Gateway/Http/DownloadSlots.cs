using Detach.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>
/// Caps the downloads decrypting at once (Gateway:MaxConcurrentDownloads). A download past the cap waits
/// a little for a slot, then is refused with 503 and Retry-After rather than queueing without bound.
/// </summary>
public sealed class DownloadSlots : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly TimeSpan _wait;

    public DownloadSlots(IOptions<GatewayOptions> options)
        : this(options.Value.MaxConcurrentDownloads, TimeSpan.FromSeconds(10))
    {
    }

    public DownloadSlots(int capacity, TimeSpan wait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _slots = new SemaphoreSlim(capacity, capacity);
        this._wait = wait;
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int InUse => Capacity - _slots.CurrentCount;

    /// <summary>A lease to dispose when the download ends, or null when no slot freed up in time.</summary>
    public async Task<IDisposable?> TryEnterAsync(CancellationToken cancellationToken)
    {
        return await _slots.WaitAsync(_wait, cancellationToken).ConfigureAwait(false) ? new Lease(_slots) : null;
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Lease(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
