using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;

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

    public async Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        await using var writer = BeginWrite();
        await writer.WriteFromAsync(content, cancellationToken).ConfigureAwait(false);
        return await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
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

    public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The length cannot be negative.");
        }
        cancellationToken.ThrowIfCancellationRequested();
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

    public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var info = new FileInfo(PathOf(cid));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<bool> ContainsAsync(Cid cid, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        return Task.FromResult(File.Exists(PathOf(cid)));
    }

    public Task RemoveAsync(Cid cid, CancellationToken cancellationToken)
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

    public Task<bool> IsAvailableAsync(CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        return Task.FromResult(Directory.Exists(Root));
    }

    /// <summary>Every CID stored here, in no particular order.</summary>
    public async IAsyncEnumerable<Cid> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var shard in Directory.EnumerateDirectories(Root))
        {
            if (Path.GetFileName(shard) == TempDirectoryName)
            {
                continue;
            }
            foreach (var file in Directory.EnumerateFiles(shard))
            {
                cancellationToken.ThrowIfCancellationRequested();
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
/// One write into a <see cref="LocalContentStore"/>: bytes are gathered into one 256 KiB chunk at a time, which is
/// hashed while it is still in cache and written to a temporary file; <see cref="CommitAsync"/> fsyncs and publishes
/// it under its CID, disposing without committing deletes it. File I/O is synchronous: Linux has no asynchronous
/// file writes, and the asynchronous API only moved each chunk to another pool thread.
/// </summary>
public sealed class LocalContentWriter : IAsyncDisposable
{
    private readonly LocalContentStore _store;
    private readonly string _tempPath;
    private readonly SafeFileHandle _file;
    private readonly UnixFsFileBuilder _builder = new();
    private byte[]? _chunk = ArrayPool<byte>.Shared.Rent(UnixFsFileBuilder.ChunkSize);
    private int _filled;
    private bool _committed;

    internal LocalContentWriter(LocalContentStore store, string tempPath)
    {
        _store = store;
        _tempPath = tempPath;
        _file = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
    }

    /// <summary>Bytes written so far.</summary>
    public long Length => _builder.FileSize + _filled;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var chunk = Chunk.Span;
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, UnixFsFileBuilder.ChunkSize - _filled);
            data.Span[..n].CopyTo(chunk[_filled..]);
            _filled += n;
            data = data[n..];
            if (_filled == UnixFsFileBuilder.ChunkSize)
            {
                FlushChunk();
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads <paramref name="content"/> to its end straight into the chunk buffer (no copy in between).</summary>
    internal async Task WriteFromAsync(Stream content, CancellationToken cancellationToken)
    {
        while (true)
        {
            var room = UnixFsFileBuilder.ChunkSize - _filled;
            var read = await content.ReadAtLeastAsync(Chunk[_filled..], room, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            _filled += read;
            if (_filled == UnixFsFileBuilder.ChunkSize)
            {
                FlushChunk();
            }

            if (read < room)
            {
                return;
            }
        }
    }

    public Task<StoredContent> CommitAsync(CancellationToken cancellationToken)
    {
        _ = Chunk;
        if (_filled > 0)
        {
            FlushChunk();
        }
        var cid = _builder.Complete();
        RandomAccess.FlushToDisk(_file);
        PageCacheAdvice.DropCached(_file);
        _file.Dispose();
        _store.Publish(_tempPath, cid);
        _committed = true;
        ReturnBuffer();
        return Task.FromResult(new StoredContent(cid, _builder.FileSize));
    }

    public ValueTask DisposeAsync()
    {
        _file.Dispose();
        if (!_committed)
        {
            File.Delete(_tempPath);
        }
        ReturnBuffer();
        return ValueTask.CompletedTask;
    }

    private Memory<byte> Chunk => _chunk?.AsMemory(0, UnixFsFileBuilder.ChunkSize) ?? throw new InvalidOperationException("The writer is closed.");

    private void FlushChunk()
    {
        var chunk = Chunk.Span[.._filled];
        var offset = _builder.FileSize;
        _builder.AddChunk(chunk);
        RandomAccess.Write(_file, chunk, offset);
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
