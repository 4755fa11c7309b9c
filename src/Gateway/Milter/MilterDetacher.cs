using Detach.Gateway.Configuration;
using Detach.Gateway.Processing;
using Detach.Mime;

namespace Detach.Gateway.Milter;

/// <summary>
/// The milter's one seam to the detacher (src/Gateway/Processing) and the policy (src/Mime): what the headers alone
/// tell, and one message through the vault. Everything else in the milter speaks only of streams and outcomes.
/// </summary>
public sealed class MilterDetacher(MessageDetacher detacher, DetachSettings settings)
{
    /// <summary>
    /// True unless the top-level header shows that the policy takes nothing out: a single part the policy keeps as
    /// it is, which is not a text/plain body in 7bit/8bit (those may hold uuencoded files) and not signed or
    /// encrypted (those get an X-Detach note at end of message). Sizes are unknown here, so they count as large.
    /// </summary>
    /// <param name="header">The header block and its empty line, from the start.</param>
    public async Task<bool> NeedsBodyAsync(Stream header, CancellationToken cancellationToken)
    {
        header.Position = 0;
        var root = (await MimeStructure.ParseAsync(header, cancellationToken: cancellationToken).ConfigureAwait(false)).Root;
        if (root.IsOpaque)
        {
            return false; // the detacher leaves a header it cannot read as it is
        }

        if (root.IsMultipart || AttachmentPolicy.ProtectedReason(root.MimeType) is not null)
        {
            return true;
        }

        if (root.MimeType == "text/plain" && root.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary)
        {
            return true;
        }

        var part = new PartContext(root.MimeType, root.DispositionType, root.RawFileName, root.ContentId, EncodedLength: long.MaxValue,
            root.TransferEncoding, IsRoot: true, ParentMimeType: null, InsideProtectedPart: false, IsCidReferenced: false, root.IsOpaque,
            HasEncapsulatedMessage: root.MimeType.StartsWith("message/", StringComparison.Ordinal));
        return AttachmentPolicy.Classify(part, settings.Policy).Action != PartAction.Keep;
    }

    /// <summary>
    /// Stores the attachments of the message in <paramref name="spool"/> and writes the rewritten message to
    /// <paramref name="output"/> (nothing, when it comes out unchanged). Throws when storing fails, or
    /// <see cref="MessageRefusedException"/> when an inspector refuses the message; what was stored is then abandoned.
    /// </summary>
    public async Task<MilterRewrite> RewriteAsync(Stream spool, Stream output, MessageEnvelope envelope, CancellationToken cancellationToken)
    {
        var detached = await detacher.PrepareAsync(spool, envelope, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!detached.Result.Unchanged)
            {
                await detached.WriteToAsync(output, cancellationToken).ConfigureAwait(false);
            }

            return new MilterRewrite(detached);
        }
        catch
        {
            await detached.AbandonAsync(CancellationToken.None).ConfigureAwait(false);
            await detached.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <summary>One rewrite, to be settled: committed once the verdict goes to the MTA, abandoned otherwise.</summary>
public sealed class MilterRewrite(DetachedMessage detached) : IAsyncDisposable
{
    /// <summary>The message comes out byte for byte as it went in.</summary>
    public bool Unchanged => detached.Result.Unchanged;

    /// <summary>Attachments were taken out, so the body changed (a "skipped" note changes the header alone).</summary>
    public bool BodyChanged => detached.Result.Detached.Count > 0;

    /// <summary>The verdict goes to the MTA now: the attachments are live from here, and the message counts as processed.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await detached.CommitAsync(cancellationToken).ConfigureAwait(false);
        detached.CountDelivered();
    }

    public Task AbandonAsync(CancellationToken cancellationToken) => detached.AbandonAsync(cancellationToken);

    public ValueTask DisposeAsync() => detached.DisposeAsync();
}
