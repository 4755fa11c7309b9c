using System.Buffers;
using System.Runtime.CompilerServices;

namespace Detach.Vault.Storage;

/// <summary>
/// The embedded store: one file per attachment under <c>{root}/{shard}/{cid}</c>, named by the CID
/// an IPFS node computes for the same bytes (see <see cref="UnixFsFileBuilder"/>), so links made
/// here stay valid once the content moves to IPFS (<see cref="CarExporter"/>). Writes go to a
/// temporary file that is fsync'd, then renamed; a crash leaves at most a stray temporary file.
/// </summary>
public sealed class LocalContentStore : IContentStore
{
    private const string TempDirectoryName = ".tmp";
    private readonly string _tempDirectory;

    /// <param name="root">The store folder, e.g. <c>{DataPath}/store</c>; created if missing.</param>
    public LocalContentStore(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.GetFullPath(root);
        _tempDirectory = Path.Combine(Root, TempDirectoryName);
        Directory.CreateDirectory(_tempDirectory);
        ClearStaleTempFiles();
    }

    public string Root { get; }

    public async Task<StoredContent> AddAsync(Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        EventThreadGuard.Check();
        await using var writer = BeginWrite();
        var buffer = ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
        try
        {
            int read;
            while ((read = await content.ReadAtLeastAsync(buffer.AsMemory(0, UnixFsFileBuilder.ChunkSize), UnixFsFileBuilder.ChunkSize, throwOnEndOfStream: false, ct).ConfigureAwait(false)) > 0)
            {
                await writer.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return await writer.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a push-style write: bytes go in through <see cref="LocalContentWriter.WriteAsync"/>
    /// and the content exists only after <see cref="LocalContentWriter.CommitAsync"/>.
    /// </summary>
    public LocalContentWriter BeginWrite()
    {
        EventThreadGuard.Check();
        return new(this, Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N")));
    }

    public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The length cannot be negative.");
        }
        ct.ThrowIfCancellationRequested();
        EventThreadGuard.Check();
        FileStream file;
        try
        {
            // Synchronous reads: Linux has no asynchronous file I/O, and FileOptions.Asynchronous would only send every
            // read (a record, 64 KiB from the page cache in microseconds) through a thread-pool hop.
            file = new FileStream(PathOf(cid), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 0,
                FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ContentNotFoundException(cid, e);
        }
        var start = Math.Min(offset, file.Length);
        file.Position = start;
        var available = file.Length - start;
        Stream result = length is { } l && l < available ? new BoundedReadStream(file, l) : file;
        return Task.FromResult(result);
    }

    public Task<long?> GetSizeAsync(Cid cid, CancellationToken ct)
    {
        EventThreadGuard.Check();
        var info = new FileInfo(PathOf(cid));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<bool> ContainsAsync(Cid cid, CancellationToken ct)
    {
        EventThreadGuard.Check();
        return Task.FromResult(File.Exists(PathOf(cid)));
    }

    public Task RemoveAsync(Cid cid, CancellationToken ct)
    {
        EventThreadGuard.Check();
        var path = PathOf(cid);
        if (File.Exists(path))
        {
            File.Delete(path);
            DirectorySync.Flush(Path.GetDirectoryName(path)!);
        }
        return Task.CompletedTask;
    }

    public Task<bool> IsAvailableAsync(CancellationToken ct)
    {
        EventThreadGuard.Check();
        return Task.FromResult(Directory.Exists(Root));
    }

    /// <summary>Every CID stored here, in no particular order.</summary>
    public async IAsyncEnumerable<Cid> ListAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var shard in Directory.EnumerateDirectories(Root))
        {
            if (Path.GetFileName(shard) == TempDirectoryName)
            {
                continue;
            }
            foreach (var file in Directory.EnumerateFiles(shard))
            {
                ct.ThrowIfCancellationRequested();
                if (Cid.TryParse(Path.GetFileName(file), out var cid))
                {
                    yield return cid;
                }
            }
            await Task.Yield();
        }
    }

    /// <summary>The file holding <paramref name="cid"/>'s bytes (it may not exist).</summary>
    public string PathOf(Cid cid)
    {
        var name = cid.ToString();
        // The last characters come from the digest: an even spread over 1024 shards, like Kubo's flatfs.
        return Path.Combine(Root, name.Substring(name.Length - 3, 2), name);
    }

    internal void Publish(string tempPath, Cid cid)
    {
        var target = PathOf(cid);
        var shard = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(shard))
        {
            Directory.CreateDirectory(shard);
            DirectorySync.Flush(Root);
        }
        if (File.Exists(target))
        {
            // Content-addressed and only ever published complete: what is there is these bytes.
            File.Delete(tempPath);
            return;
        }
        File.Move(tempPath, target, overwrite: true);
        DirectorySync.Flush(shard);
    }

    private void ClearStaleTempFiles()
    {
        // Files older than a day are from a crashed write; younger ones may be another process's.
        var cutoff = DateTime.UtcNow.AddDays(-1);
        foreach (var file in Directory.EnumerateFiles(_tempDirectory))
        {
            if (File.GetLastWriteTimeUtc(file) < cutoff)
            {
                File.Delete(file);
            }
        }
    }
}

/// <summary>
/// One write into a <see cref="LocalContentStore"/>: bytes are hashed chunk by chunk as they
/// arrive (one 256 KiB buffer) and written to a temporary file; <see cref="CommitAsync"/> fsyncs
/// and publishes it under its CID, disposing without committing deletes it.
/// </summary>
public sealed class LocalContentWriter : IAsyncDisposable
{
    private readonly LocalContentStore _store;
    private readonly string _tempPath;
    private readonly FileStream _file;
    private readonly UnixFsFileBuilder _builder = new();
    private byte[]? _chunk = ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
    private int _filled;
    private bool _committed;

    internal LocalContentWriter(LocalContentStore store, string tempPath)
    {
        _store = store;
        _tempPath = tempPath;
        _file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
    }

    /// <summary>Bytes written so far.</summary>
    public long Length => _builder.FileSize + _filled;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var chunk = _chunk ?? throw new InvalidOperationException("The writer is closed.");
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, UnixFsFileBuilder.ChunkSize - _filled);
            data.Span[..n].CopyTo(chunk.AsSpan(_filled));
            _filled += n;
            data = data[n..];
            if (_filled == UnixFsFileBuilder.ChunkSize)
            {
                await FlushChunkAsync(chunk, ct).ConfigureAwait(false);
            }
        }
    }

    public async Task<StoredContent> CommitAsync(CancellationToken ct)
    {
        var chunk = _chunk ?? throw new InvalidOperationException("The writer is closed.");
        if (_filled > 0)
        {
            await FlushChunkAsync(chunk, ct).ConfigureAwait(false);
        }
        var cid = _builder.Complete();
        _file.Flush(flushToDisk: true);
        await _file.DisposeAsync().ConfigureAwait(false);
        _store.Publish(_tempPath, cid);
        _committed = true;
        ReturnBuffer();
        return new StoredContent(cid, _builder.FileSize);
    }

    public async ValueTask DisposeAsync()
    {
        await _file.DisposeAsync().ConfigureAwait(false);
        if (!_committed)
        {
            File.Delete(_tempPath);
        }
        ReturnBuffer();
    }

    private async ValueTask FlushChunkAsync(byte[] chunk, CancellationToken ct)
    {
        _builder.AddChunk(chunk.AsSpan(0, _filled));
        await _file.WriteAsync(chunk.AsMemory(0, _filled), ct).ConfigureAwait(false);
        _filled = 0;
    }

    private void ReturnBuffer()
    {
        if (_chunk is { } chunk)
        {
            _chunk = null;
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }
}
