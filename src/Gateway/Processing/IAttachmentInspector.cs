using Detach.Mime;

namespace Detach.Gateway.Processing;

/// <summary>
/// Sees each attachment's decoded bytes on their way into the vault, before they are encrypted (a virus
/// scanner, for one). The bytes are read once, from the spool: an inspection is handed each chunk as the vault
/// reads it. Register implementations in the host's services; <see cref="MessageDetacher"/> runs them all.
/// </summary>
public interface IAttachmentInspector
{
    /// <summary>Starts inspecting one attachment (name, type, part, and the message's header fields).</summary>
    ValueTask<IAttachmentInspection> BeginAsync(AttachmentDescriptor attachment, CancellationToken cancellationToken);
}

/// <summary>The inspection of one attachment. Disposed once the attachment is stored or has failed.</summary>
public interface IAttachmentInspection : IAsyncDisposable
{
    /// <summary>The next decoded bytes, in order. The memory is only valid during the call.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>
    /// Every byte was seen; the vault has not finished storing the attachment yet. Return null to let it be stored,
    /// or a warning (short ASCII, e.g. "infected: Eicar-Test-Signature") to store it flagged: the warning goes into its
    /// index record (its download page shows it) and the message's X-Detach-Scan header. Throw
    /// <see cref="AttachmentWithheldException"/> to leave this attachment out (not stored, a notice in its place),
    /// <see cref="MessageRefusedException"/> to refuse the message with its reply, or any other exception to fail it
    /// temporarily (451 / exit 75); when the message fails nothing of it is delivered and what was stored is abandoned.
    /// The fronts answer a refusal without logging it: log why here.
    /// </summary>
    ValueTask<string?> CompleteAsync(CancellationToken cancellationToken);
}
