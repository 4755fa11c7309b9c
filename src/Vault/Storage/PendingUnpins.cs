namespace Detach.Vault.Storage;

/// <summary>
/// CIDs whose unpin must wait for the node: one empty file per CID in a folder of the data path, written (and the
/// folder synced) when an unpin finds the node down, deleted once <see cref="SpoolPusher"/> unpinned it. Without
/// it, an object whose key was erased while the node was down stays pinned for ever: unreadable, but never freed.
/// </summary>
public sealed class PendingUnpins
{
    public PendingUnpins(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        Folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public void Add(Cid cid)
    {
        using (File.Create(Path.Combine(Folder, cid.ToString())))
        {
        }

        DirectorySync.Flush(Folder);
    }

    public IReadOnlyList<Cid> List() =>
        [.. Directory.EnumerateFiles(Folder).Select(f => Cid.TryParse(Path.GetFileName(f), out var cid) ? cid : (Cid?)null).OfType<Cid>()];

    public void Remove(Cid cid) => File.Delete(Path.Combine(Folder, cid.ToString()));
}
