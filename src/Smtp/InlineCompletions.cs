using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Detach.Smtp;

/// <summary>
/// Per-socket inline completions: the runtime's socket event thread runs the continuation of a read or write
/// itself instead of waking a thread-pool thread for it. An SMTP exchange is many tiny reads and writes, each
/// followed by microseconds of work; without this, every one of them costs two thread switches (measured here:
/// 22 context switches per relayed message, 4 with it, and a third less CPU).
/// </summary>
/// <remarks>
/// The runtime keeps this knob as an experimental, internal <c>Socket.PreferInlineCompletions</c> setter that it
/// preserves for callers outside the assembly (the process-wide form is DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS,
/// which would also inline HTTP and database clients). A runtime without it leaves the socket as it was.
/// Code continuing after an inline completion runs on the event thread, which serves every socket of the process:
/// it must not block or compute for long (see <see cref="SmtpServerOptions.InlineCompletions"/>).
/// </remarks>
internal static class InlineCompletions
{
    private static bool _unavailable;

    /// <summary>Asks for inline completions on <paramref name="socket"/>; false when the runtime has no such knob.</summary>
    public static bool TryEnable(Socket socket)
    {
        if (Volatile.Read(ref _unavailable))
        {
            return false;
        }

        try
        {
            SetPreferInlineCompletions(socket, true);
            return true;
        }
        catch (MissingMethodException)
        {
            Volatile.Write(ref _unavailable, true);
            return false;
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_PreferInlineCompletions")]
    private static extern void SetPreferInlineCompletions(Socket socket, bool value);
}
