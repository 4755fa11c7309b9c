namespace Detach.Mime;

/// <summary>What the sink learns about a part before reading it. <see cref="FileName"/> is already sanitised.</summary>
/// <param name="PartPath">IMAP-style position of the part, e.g. "1.2"; "1" for a single-part message.</param>
public sealed record AttachmentDescriptor(string FileName, string ContentType, string? ContentId, long EncodedLength, string PartPath);

/// <summary>What the sink reports back once the decoded content is safely stored.</summary>
public sealed record DetachedAttachment(string FileName, string ContentType, long Size, string Link, DateTimeOffset? ExpiresAt);

/// <summary>Stores decoded attachment content. The engine knows nothing of encryption or storage.</summary>
public interface IAttachmentSink
{
    /// <summary>
    /// Stores <paramref name="decodedContent"/> (a pull-based stream decoding the spool as it is read).
    /// Exceptions propagate out of <see cref="MimeRewriter.RewriteAsync"/> unchanged.
    /// </summary>
    Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken);
}

/// <summary>Outcome of one rewrite.</summary>
/// <param name="Detached">The attachments taken out, in document order.</param>
/// <param name="SkippedReason">Why the message was left alone on purpose (e.g. "signed message"), otherwise null.</param>
public sealed record MimeRewriteResult(IReadOnlyList<DetachedAttachment> Detached, string? SkippedReason)
{
    /// <summary>True when the output is byte for byte the input.</summary>
    public bool Unchanged { get; init; }
}
