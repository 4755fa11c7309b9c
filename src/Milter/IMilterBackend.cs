using System.Buffers;
using System.Net;

namespace Detach.Milter;

/// <summary>What a milter does with the mail: one handler per MTA connection.</summary>
public interface IMilterBackend
{
    ValueTask<IMilterHandler> OpenAsync(MilterContext context, CancellationToken cancellationToken);
}

/// <summary>
/// The events of one MTA connection. Only <see cref="EndOfHeadersAsync"/> and <see cref="EndOfMessageAsync"/> are
/// answered; the session negotiates no replies for the rest (or answers "continue" for an MTA that needs one). An
/// exception from an unanswered event fails the message: its next answer is a temporary failure.
/// </summary>
public interface IMilterHandler : IAsyncDisposable
{
    /// <summary>A new SMTP client (also after SMFIC_QUIT_NC); <see cref="MilterContext.Client"/> is set.</summary>
    ValueTask ConnectAsync(CancellationToken cancellationToken);

    /// <summary>A new message from <paramref name="sender"/> (angle brackets removed). What was left of an earlier one is dropped.</summary>
    ValueTask MailAsync(string sender, CancellationToken cancellationToken);

    ValueTask RecipientAsync(string recipient, CancellationToken cancellationToken);

    /// <summary>One header field: its name, and its value as it follows the colon (leading space kept, folds as LF).</summary>
    ValueTask HeaderAsync(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value, CancellationToken cancellationToken);

    /// <summary>
    /// All header fields are in. <see cref="MilterVerdict.Continue"/> asks for the body; <see cref="MilterVerdict.Accept"/>
    /// ends the message here (the MTA sends no body and expects no changes).
    /// </summary>
    ValueTask<MilterVerdict> EndOfHeadersAsync(bool headersComplete, CancellationToken cancellationToken);

    /// <summary>A body chunk with CRLF line ends, valid only until the call returns.</summary>
    ValueTask BodyAsync(ReadOnlySequence<byte> chunk, CancellationToken cancellationToken);

    /// <summary>
    /// The message is complete: changes and verdict. <paramref name="cancellationToken"/> is cancelled if the MTA
    /// goes away meanwhile; the session sends SMFIR_PROGRESS while this runs.
    /// </summary>
    Task<MilterMessageResult> EndOfMessageAsync(CancellationToken cancellationToken);

    /// <summary>The MTA abandoned the message (SMFIC_ABORT), or the connection ends. Called also when no message is open.</summary>
    ValueTask AbortAsync(CancellationToken cancellationToken);
}

/// <summary>The SMTP client as the MTA describes it in SMFIC_CONNECT.</summary>
/// <param name="Family">'4', '6', 'L' (unix socket) or 'U' (unknown, e.g. a command-line submission).</param>
public sealed record MilterClient(string HostName, char Family, int Port, string Address);

/// <summary>One MTA connection, as the handler sees it.</summary>
public sealed class MilterContext(string sessionId, EndPoint? remoteEndPoint, MilterMacros macros)
{
    public string SessionId { get; } = sessionId;

    /// <summary>The MTA's end of the connection.</summary>
    public EndPoint? RemoteEndPoint { get; } = remoteEndPoint;

    public MilterMacros Macros { get; } = macros;

    /// <summary>The SMTP client of the current connection, once SMFIC_CONNECT came.</summary>
    public MilterClient? Client { get; internal set; }

    /// <summary>What was agreed in the option negotiation.</summary>
    public MilterNegotiated? Negotiated { get; internal set; }
}
