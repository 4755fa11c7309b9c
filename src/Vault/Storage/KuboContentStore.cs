namespace Detach.Vault.Storage;

/// <summary>
/// Content on a Kubo (or js-ipfs) node: add pins, read is cat with offset/length, remove unpins
/// (the node's GC frees the blocks). Node errors become <see cref="ContentNotFoundException"/> and
/// <see cref="StorageUnavailableException"/>.
/// </summary>
public sealed class KuboContentStore(KuboClient client, string? pinName = "detach") : IContentStore
{
    public KuboClient Client => client;

    public async Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken)
    {
        try
        {
            var added = await client.AddAsync(content, pinName, cancellationToken).ConfigureAwait(false);
            return new StoredContent(added.Cid, added.Size);
        }
        catch (KuboException e)
        {
            // Whatever the node says (down, disk full, repo closed), the attachment is not stored:
            // a temporary failure, so the spool or the SMTP client keeps it.
            throw new StorageUnavailableException($"The IPFS node cannot store now: {e.Message}", e);
        }
    }

    public async Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CatAsync(cid, offset, length, cancellationToken).ConfigureAwait(false);
        }
        catch (KuboNotFoundException e)
        {
            throw new ContentNotFoundException(cid, e);
        }
        catch (KuboUnavailableException e)
        {
            throw new StorageUnavailableException($"The IPFS node cannot be read now: {e.Message}", e);
        }
    }

    public async Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken)
    {
        try
        {
            return await client.FileSizeAsync(cid, cancellationToken).ConfigureAwait(false);
        }
        catch (KuboNotFoundException)
        {
            return null;
        }
        catch (KuboUnavailableException e)
        {
            throw new StorageUnavailableException($"The IPFS node cannot be read now: {e.Message}", e);
        }
    }

    public async Task RemoveAsync(Cid cid, CancellationToken cancellationToken)
    {
        try
        {
            await client.PinRmAsync(cid, cancellationToken).ConfigureAwait(false);
        }
        catch (KuboNotFoundException)
        {
            // Not pinned: nothing to remove.
        }
        catch (KuboUnavailableException e)
        {
            throw new StorageUnavailableException($"The IPFS node cannot unpin now: {e.Message}", e);
        }
    }

    public async Task<bool> IsAvailableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await client.IdAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (KuboException)
        {
            return false;
        }
    }
}
