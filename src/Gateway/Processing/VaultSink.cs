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

    /// <summary>What the inspections warned about (flagged attachments) or withheld, for the message's X-Detach-Scan header.</summary>
    public List<string> Warnings { get; } = [];

    public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
    {
        // Encryption, the store's fsync or upload and the index write must not run on the socket event thread.
        await ThreadPoolHop.Now;
        Attachments ??= vault.BeginMessage(MessageIdentity.Of(attachment.Message, envelope));
        var file = new AttachmentFile(attachment.FileName, attachment.ContentType);
        StoredAttachment stored;
        if (inspectors.Count == 0)
        {
            stored = await Attachments.StoreAsync(file, decodedContent, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var (inspected, withheld) = await StoreInspectedAsync(Attachments, attachment, file, decodedContent, cancellationToken).ConfigureAwait(false);
            if (withheld is not null)
            {
                Warnings.Add(withheld.Withheld!);
                return withheld;
            }

            stored = inspected!;
        }

        var record = stored.Record;
        return new DetachedAttachment(record.FileName, record.ContentType, record.PlaintextSize, stored.Link, record.ExpiresAt);
    }

    private async Task<(StoredAttachment? Stored, DetachedAttachment? Withheld)> StoreInspectedAsync(
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
            catch when (inspected.Failure?.SourceException is AttachmentWithheldException withheld)
            {
                // Nothing was committed: the part leaves the message with a notice instead of a link.
                return (null, new DetachedAttachment(file.FileName, file.ContentType, inspected.BytesRead, "", null) { Withheld = withheld.Reason });
            }
            catch when (inspected.Failure is not null)
            {
                // The inspection's own exception (a refusal with its reply), not the store's wrapping of it.
                inspected.Failure.Throw();
                throw;
            }

            if (inspected.Warnings.Count > 0)
            {
                var warning = string.Join("; ", inspected.Warnings);
                Warnings.Add(warning);
                stored = await attachments.WarnAsync(stored, warning, cancellationToken).ConfigureAwait(false);
            }

            return (stored, null);
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
