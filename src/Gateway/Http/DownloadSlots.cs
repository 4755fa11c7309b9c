using Detach.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>
/// Caps the downloads decrypting at once (Gateway:MaxConcurrentDownloads). A download past the cap waits
/// a little for a slot, then is refused with 503 and Retry-After rather than queueing without bound.
/// </summary>
public sealed class DownloadSlots : IDisposable
{
    private readonly SemaphoreSlim slots;
    private readonly TimeSpan wait;

    public DownloadSlots(IOptions<GatewayOptions> options)
        : this(options.Value.MaxConcurrentDownloads, TimeSpan.FromSeconds(10))
    {
    }

    public DownloadSlots(int capacity, TimeSpan wait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        slots = new SemaphoreSlim(capacity, capacity);
        this.wait = wait;
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int InUse => Capacity - slots.CurrentCount;

    /// <summary>A lease to dispose when the download ends, or null when no slot freed up in time.</summary>
    public async Task<IDisposable?> TryEnterAsync(CancellationToken cancellationToken)
    {
        return await slots.WaitAsync(wait, cancellationToken).ConfigureAwait(false) ? new Lease(slots) : null;
    }

    public void Dispose() => slots.Dispose();

    private sealed class Lease(SemaphoreSlim slots) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
