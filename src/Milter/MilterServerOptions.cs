using System.Net;

namespace Detach.Milter;

/// <summary>Configuration of <see cref="MilterServer"/> and <see cref="MilterSession"/>.</summary>
public sealed class MilterServerOptions
{
    /// <summary>The largest frame a milter must take: a 64 KiB body chunk. Postfix's header frames can be larger.</summary>
    public const int SmallestFrameLimit = 64 * 1024;

    /// <summary>Where to listen: <see cref="IPEndPoint"/> (port 0 picks one) or <see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>.</summary>
    public IList<EndPoint> EndPoints { get; } = [];

    /// <summary>Concurrent MTA connections (Postfix opens one per SMTP session); more are closed at once.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>
    /// Largest frame length taken from the MTA (code byte and data), checked before anything is buffered. Postfix
    /// sends a header field in one frame, up to its header_size_limit (100 KiB by default).
    /// </summary>
    public int MaxFrameLength { get; set; } = 1024 * 1024;

    /// <summary>Macros kept per protocol stage; more are dropped (Postfix sends about ten).</summary>
    public int MaxMacrosPerStage { get; set; } = 64;

    /// <summary>Header fields passed on per message; past this the handler learns the header is incomplete.</summary>
    public int MaxHeaders { get; set; } = 1000;

    /// <summary>How long the MTA may stay silent between frames (it holds the connection for a whole SMTP session).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often SMFIR_PROGRESS goes out while the end of a message is being worked on.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Actions the MTA must allow, or the connection is refused at negotiation.</summary>
    public MilterActions RequiredActions { get; set; } = MilterActions.AddHeaders | MilterActions.ChangeHeaders | MilterActions.ChangeBody;

    /// <summary>Per stage, the macros to ask for (space-separated), when the MTA lets the filter choose.</summary>
    public IDictionary<MilterMacroStage, string> MacroRequests { get; } = new Dictionary<MilterMacroStage, string>();

    /// <summary>
    /// Run session code on the runtime's socket event thread when the MTA's bytes arrive (see the SMTP server's
    /// option of the same name): fewer thread switches for the many small frames, but the handler must move
    /// blocking or long work (disk, storing) to the thread pool itself. Off by default.
    /// </summary>
    public bool InlineCompletions { get; set; }

    /// <summary>How long shutdown waits for busy sessions before it drops them.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "Must be at least 1.");
        }

        if (MaxFrameLength < SmallestFrameLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameLength), MaxFrameLength, $"Must be at least {SmallestFrameLimit}.");
        }

        if (MaxMacrosPerStage < 1 || MaxHeaders < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxHeaders), "MaxMacrosPerStage and MaxHeaders must be at least 1.");
        }

        if (IdleTimeout <= TimeSpan.Zero || ProgressInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), "IdleTimeout and ProgressInterval must be positive.");
        }
    }
}
