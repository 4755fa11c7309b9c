using System.Buffers;

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

    /// <summary>
    /// Pieces the pool keeps at most (256 MiB): the pool sets aside a slot per piece for each of its array sizes up
    /// front, so a budget of gigabytes would cost megabytes of empty slots. Past this, pieces are allocated afresh.
    /// </summary>
    private const int MaxPooledSegments = 16 * 1024;

    private long _available;

    public SpillBudget(long bytes = DefaultBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Capacity = bytes;
        _available = bytes;
        Segments = ArrayPool<byte>.Create(SpillStream.SegmentSize, (int)Math.Clamp(bytes / SpillStream.SegmentSize, 1, MaxPooledSegments));
    }

    /// <summary>
    /// Where the spools' pieces come from: a pool that can hold the whole budget (up to 256 MiB). The shared pool
    /// keeps a few dozen arrays of a size; 20 sessions spooling a 1 MiB attachment each need over 1,700 pieces, so
    /// most would be new arrays, zeroed and then collected (measured: page faults, memset and GC were a tenth of the
    /// proxy's CPU per attachment). Its arrays are never more than the budget, which is the memory the spools may
    /// hold anyway.
    /// </summary>
    internal ArrayPool<byte> Segments { get; }

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
