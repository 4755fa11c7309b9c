using System.Collections.Concurrent;
using System.Diagnostics;

namespace Detach.Gateway.SmtpFront;

/// <summary>
/// Next-hop connections left idle by finished client sessions, kept for the next session as Postfix's own
/// connection cache does: each connection still serves one session at a time (never shared between sessions),
/// is kept only between transactions (one left mid-transaction is closed, see <see cref="RelayNextHop.ResetAsync"/>),
/// and is dropped after <see cref="MaxIdle"/>, well before the after-filter smtpd's own idle timeout. It saves the
/// connect, greeting and EHLO round trips of every new client session.
/// </summary>
internal sealed class NextHopPool(int capacity) : IAsyncDisposable
{
    public static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(30);

    private readonly ConcurrentQueue<(RelayNextHop Hop, long Since)> idle = new();
    private int count;

    /// <summary>Connections waiting for a session now.</summary>
    public int IdleCount => idle.Count;

    /// <summary>An idle connection that is still usable, or null.</summary>
    public async Task<RelayNextHop?> TakeAsync()
    {
        while (idle.TryDequeue(out var entry))
        {
            Interlocked.Decrement(ref count);
            if (entry.Hop.IsUsable && Stopwatch.GetElapsedTime(entry.Since) < MaxIdle)
            {
                return entry.Hop;
            }

            await entry.Hop.DisposeAsync().ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>Keeps the connection if it is between transactions and there is room; otherwise says goodbye to it.</summary>
    public async Task ReturnAsync(RelayNextHop hop)
    {
        await hop.ResetAsync(CancellationToken.None).ConfigureAwait(false);
        if (hop.IsUsable)
        {
            if (Interlocked.Increment(ref count) <= capacity)
            {
                idle.Enqueue((hop, Stopwatch.GetTimestamp()));
                return;
            }

            Interlocked.Decrement(ref count);
        }

        await hop.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        while (idle.TryDequeue(out var entry))
        {
            await entry.Hop.DisposeAsync().ConfigureAwait(false);
        }
    }
}
