using Detach.Mime;
using Detach.Vault;

namespace Detach.Gateway.Processing;

/// <summary>
/// The one adapter between the MIME rewriter and the vault, for one message. The vault side of the message
/// (and its index work) opens at the first attachment, so plain mail costs nothing here; the inspectors see
/// each attachment's decoded bytes on the way in.
/// </summary>
internal sealed class VaultSink(AttachmentVault vault, MessageEnvelope envelope, IReadOnlyList<IAttachmentInspector> inspectors) : IAttachmentSink
{
    /// <summary>Null until something is stored.</summary>
    public MessageAttachments? Attachments { get; private set; }

    public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
    {
        // Encryption, the store's fsync or upload and the index write must not run on the socket event thread.
        await ThreadPoolHop.Now;
        Attachments ??= vault.BeginMessage(MessageIdentity.Of(attachment.Message, envelope));
        var file = new AttachmentFile(attachment.FileName, attachment.ContentType);
        var stored = inspectors.Count == 0
            ? await Attachments.StoreAsync(file, decodedContent, cancellationToken).ConfigureAwait(false)
            : await StoreInspectedAsync(Attachments, attachment, file, decodedContent, cancellationToken).ConfigureAwait(false);
        var record = stored.Record;
        return new DetachedAttachment(record.FileName, record.ContentType, record.PlaintextSize, stored.Link, record.ExpiresAt);
    }

    private async Task<StoredAttachment> StoreInspectedAsync(
        MessageAttachments attachments, AttachmentDescriptor attachment, AttachmentFile file, Stream decodedContent, CancellationToken cancellationToken)
    {
        var inspections = new List<IAttachmentInspection>(inspectors.Count);
        try
        {
            foreach (var inspector in inspectors)
            {
                inspections.Add(await inspector.BeginAsync(attachment, cancellationToken).ConfigureAwait(false));
            }

            var inspected = new InspectedStream(decodedContent, inspections);
            StoredAttachment stored;
            try
            {
                stored = await attachments.StoreAsync(file, inspected, cancellationToken).ConfigureAwait(false);
                await inspected.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }
            catch when (inspected.Failure is not null)
            {
                // The inspection's own exception (a refusal with its reply), not the store's wrapping of it.
                inspected.Failure.Throw();
                throw;
            }

            return stored;
        }
        finally
        {
            foreach (var inspection in inspections)
            {
                await inspection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
