using System.Runtime.CompilerServices;

namespace Detach.Vault;

/// <summary>
/// The rule that keeps one slow disk or node from stalling every SMTP session, enforced where it matters: the SMTP
/// front runs session code on the runtime's socket event thread (inline completions), which serves every socket of
/// the process, so nothing that blocks on a disk, a lock or the network may run there. The vault, the stores and the
/// index call <see cref="Check"/> at their entry points. Off in production: <see cref="IsEnabled"/> is a static
/// readonly false, which the JIT folds away with the branch. The test projects switch it on (the AppContext switch
/// <see cref="SwitchName"/>, see Directory.Build.props), so a call site that forgets its hop to the thread pool fails
/// the tests instead of stalling production.
/// </summary>
public static class EventThreadGuard
{
    public const string SwitchName = "Detach.AssertOffSocketEventThread";

    /// <summary>The name the runtime gives its socket event threads (System.Net.Sockets' SocketAsyncEngine on Unix).</summary>
    public const string EventThreadName = ".NET Sockets";

    public static readonly bool IsEnabled = AppContext.TryGetSwitch(SwitchName, out var enabled) && enabled;

    /// <summary>Throws <see cref="EventThreadBlockedException"/> when enabled and called on a socket event thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Check([CallerMemberName] string caller = "")
    {
        if (IsEnabled && Thread.CurrentThread.Name == EventThreadName)
        {
            throw new EventThreadBlockedException(caller);
        }
    }
}

/// <summary>A blocking call reached the socket event thread (only with <see cref="EventThreadGuard.IsEnabled"/>).</summary>
public sealed class EventThreadBlockedException(string caller)
    : Exception($"{caller} was called on the socket event thread: move the call to the thread pool first (await ThreadPoolHop.Now).");
