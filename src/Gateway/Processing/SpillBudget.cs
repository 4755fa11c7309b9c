namespace Detach.Gateway.Processing;

/// <summary>
/// How many bytes all in-memory spools of one host may hold together. A spool that cannot get more from the
/// budget moves to disk, so a thousand concurrent sessions cost disk, not a thousand times the per-message
/// threshold in memory.
/// </summary>
public sealed class SpillBudget
{
    /// <summary>64 MiB: 20 sessions with a full 2 MiB spool each (and their rewritten copies) fit with room to spare.</summary>
    public const long DefaultBytes = 64L * 1024 * 1024;

    private long _available;

    public SpillBudget(long bytes = DefaultBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Capacity = bytes;
        _available = bytes;
    }

    public long Capacity { get; }

    /// <summary>Bytes not reserved by any spool right now.</summary>
    public long Available => Interlocked.Read(ref _available);

    /// <summary>Takes <paramref name="bytes"/> from the budget, or nothing when that much is not left.</summary>
    public bool TryReserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var current = Interlocked.Read(ref _available);
        while (current >= bytes)
        {
            var seen = Interlocked.CompareExchange(ref _available, current - bytes, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Interlocked.Add(ref _available, bytes);
    }
}
