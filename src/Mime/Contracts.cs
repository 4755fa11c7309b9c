namespace Detach.Mime;

/// <summary>What the sink learns about a part before reading it. <see cref="FileName"/> is already sanitised.</summary>
/// <param name="PartPath">IMAP-style position of the part, e.g. "1.2"; "1" for a single-part message.</param>
/// <param name="Message">The header fields of the message the part belongs to (Message-ID, From...).</param>
public sealed record AttachmentDescriptor(string FileName, string ContentType, string? ContentId, long EncodedLength, string PartPath, MessageHeaders Message);

/// <summary>What the sink reports back once the decoded content is safely stored.</summary>
public sealed record DetachedAttachment(string FileName, string ContentType, long Size, string Link, DateTimeOffset? ExpiresAt)
{
    /// <summary>
    /// Set when the sink did not store the part on purpose (a scanner found a threat in it): why, in a few words of
    /// ASCII. The part is then replaced by a short text saying so instead of a link, and <see cref="Link"/> is empty.
    /// </summary>
    public string? Withheld { get; init; }
}

/// <summary>Stores decoded attachment content. The engine knows nothing of encryption or storage.</summary>
public interface IAttachmentSink
{
    /// <summary>
    /// Stores <paramref name="decodedContent"/> (a pull-based stream decoding the spool as it is read).
    /// Exceptions propagate out of <see cref="MimeRewriter.PrepareAsync"/> unchanged.
    /// </summary>
    Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken);
}

/// <summary>A part the sink stored, with what the rewriter needs to write its replacement.</summary>
internal sealed record StoredPart(DetachTarget Target, AttachmentDescriptor Descriptor, DetachedAttachment Attachment)
{
    public MimeEntity Entity => Target.Entity;
}
