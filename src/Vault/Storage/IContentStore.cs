namespace Detach.Vault.Storage;

/// <summary>Where encrypted attachment bytes live, addressed by the CID an IPFS node gives them.</summary>
public interface IContentStore
{
    /// <summary>
    /// Stores <paramref name="content"/> (read to its end) and returns its CID and length. The bytes
    /// are durable when this returns: fsync'd to disk, or pinned on the node.
    /// </summary>
    /// <exception cref="StorageUnavailableException">The backend cannot store now; try again later.</exception>
    Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken);

    /// <summary>Opens the stored bytes from <paramref name="offset"/>, at most <paramref name="length"/> of them.</summary>
    /// <exception cref="ContentNotFoundException">Nothing is stored under <paramref name="cid"/>.</exception>
    /// <exception cref="StorageUnavailableException">The backend cannot be reached.</exception>
    Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken);

    /// <summary>The content length, or null when nothing is stored under <paramref name="cid"/>.</summary>
    Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken);

    /// <summary>Unpins or deletes the content; removing what is not there is not an error.</summary>
    Task RemoveAsync(Cid cid, CancellationToken cancellationToken);

    /// <summary>Whether <see cref="AddAsync"/> can succeed now.</summary>
    Task<bool> IsAvailableAsync(CancellationToken cancellationToken);
}

/// <summary>What <see cref="IContentStore.AddAsync"/> stored: the CID and the content length in bytes.</summary>
public sealed record StoredContent(Cid Cid, long Size);

/// <summary>Nothing is stored under the CID (or it could not be found within the node's timeout).</summary>
public class ContentNotFoundException : Exception
{
    public ContentNotFoundException() : base("Content not found.") { }

    public ContentNotFoundException(string message) : base(message) { }

    public ContentNotFoundException(string message, Exception? innerException) : base(message, innerException) { }

    public ContentNotFoundException(Cid cid, Exception? innerException = null)
        : base($"Content {cid} is not stored here.", innerException) => Cid = cid;

    public Cid Cid { get; }
}

/// <summary>
/// The store cannot serve the call now (node down, disk unavailable); nothing was stored. SMTP
/// answers a temporary failure (4xx) so the sender retries.
/// </summary>
public class StorageUnavailableException : Exception
{
    public StorageUnavailableException() : base("Storage unavailable.") { }

    public StorageUnavailableException(string message) : base(message) { }

    public StorageUnavailableException(string message, Exception? innerException) : base(message, innerException) { }
}
