using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

public sealed class LocalContentStoreTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detach-store-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly LocalContentStore _store;

    public LocalContentStoreTests() => _store = new LocalContentStore(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Add_EmptyAndSingleChunk_AreRawLeaves()
    {
        var empty = await _store.AddAsync(new MemoryStream(), Ct);
        Assert.Equal("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", empty.Cid.ToString());
        Assert.Equal(0, empty.Size);

        var hello = await _store.AddAsync(new MemoryStream("hello world"u8.ToArray()), Ct);
        Assert.Equal("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", hello.Cid.ToString());
        Assert.Equal(11, hello.Size);
    }

    [Fact]
    public async Task Add_MultiChunk_IsADagPbRoot_AndReadsBack()
    {
        var bytes = PatternStream.Bytes(7, 262_145);
        var stored = await _store.AddAsync(new PatternStream(7, bytes.Length) { MaxReadSize = 10_000 }, Ct);
        Assert.Equal(Cid.DagPbCodec, stored.Cid.Codec);
        Assert.Equal(bytes.Length, stored.Size);
        Assert.Equal(bytes.Length, await _store.GetSizeAsync(stored.Cid, Ct));
        await using var read = await _store.OpenReadAsync(stored.Cid, 0, null, Ct);
        Assert.Equal(bytes, await ReadAllAsync(read));
    }

    [Fact]
    public async Task Add_SameBytesInDifferentReadSizes_GiveTheSameCid()
    {
        var a = await _store.AddAsync(new PatternStream(3, 600_000) { MaxReadSize = 1 << 20 }, Ct);
        var b = await _store.AddAsync(new PatternStream(3, 600_000) { MaxReadSize = 4097 }, Ct);
        Assert.Equal(a, b);
        Assert.Single(await ListAsync());
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(100, 50)]
    [InlineData(262_140, 10)]
    [InlineData(299_990, 1000)]
    [InlineData(400_000, 5)]
    public async Task OpenRead_HonoursOffsetAndLength(long offset, int? length)
    {
        var bytes = PatternStream.Bytes(11, 300_000);
        var stored = await _store.AddAsync(new MemoryStream(bytes), Ct);
        await using var read = await _store.OpenReadAsync(stored.Cid, offset, length, Ct);
        var start = (int)Math.Min(offset, bytes.Length);
        var end = length is { } l ? Math.Min(bytes.Length, start + l) : bytes.Length;
        Assert.Equal(bytes[start..end], await ReadAllAsync(read));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4097)]
    [InlineData(262_143)]
    [InlineData(262_144)]
    [InlineData(1_048_576 + 40 + 32 * 16)]
    public async Task Add_OfAnyLength_StoresExactlyTheBytes_AsThePushWriterDoes(int length)
    {
        // AddAsync reads straight into its chunk, in whatever pieces the source gives: every length must come back
        // exactly, with the CID the push-style writer gives the same bytes.
        var bytes = PatternStream.Bytes(13, length);
        var stored = await _store.AddAsync(new PatternStream(13, length) { MaxReadSize = 70_000 }, Ct);
        Assert.Equal(length, new FileInfo(_store.PathOf(stored.Cid)).Length);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(_store.PathOf(stored.Cid), Ct));
        var pushed = await new LocalContentStore(_root + "-pushed").BeginWriteAndCommitAsync(bytes);
        Assert.Equal(stored.Cid, pushed);
        Directory.Delete(_root + "-pushed", recursive: true);
    }

    [Fact]
    public async Task A_stored_object_leaves_the_page_cache_once_it_is_synced()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "posix_fadvise and fincore are Linux's");
        var fincore = InstalledPrograms.Require("fincore", "util-linux");
        var stored = await _store.AddAsync(new PatternStream(3, 1 << 20), Ct);

        // The control: the same bytes written without the advice stay cached, so the assertion below can fail.
        var control = Path.Combine(_root, "control");
        await File.WriteAllBytesAsync(control, PatternStream.Bytes(3, 1 << 20), Ct);
        Assert.True(await ResidentBytesAsync(fincore, control) > 0);

        Assert.Equal(0, await ResidentBytesAsync(fincore, _store.PathOf(stored.Cid)));
    }

    private static async Task<long> ResidentBytesAsync(string fincore, string path)
    {
        var result = (await ChildProcess.RunAsync(fincore, ["--bytes", "--noheadings", "--output", "RES", path], TimeSpan.FromSeconds(30), Ct)).EnsureSuccess();
        return long.Parse(result.StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task OpenRead_Unknown_ThrowsContentNotFound()
    {
        var unknown = Cid.Compute(Cid.RawCodec, "never stored"u8);
        var e = await Assert.ThrowsAsync<ContentNotFoundException>(() => _store.OpenReadAsync(unknown, 0, null, Ct));
        Assert.Equal(unknown, e.Cid);
        Assert.Null(await _store.GetSizeAsync(unknown, Ct));
    }

    [Fact]
    public async Task Remove_DeletesAndIsIdempotent()
    {
        var stored = await _store.AddAsync(new MemoryStream([1, 2, 3]), Ct);
        await _store.RemoveAsync(stored.Cid, Ct);
        await _store.RemoveAsync(stored.Cid, Ct);
        Assert.False(await _store.ContainsAsync(stored.Cid, Ct));
        await Assert.ThrowsAsync<ContentNotFoundException>(() => _store.OpenReadAsync(stored.Cid, 0, null, Ct));
    }

    [Fact]
    public async Task Add_SourceFailingMidway_StoresNothingAndLeavesNoTempFile()
    {
        var failing = new PatternStream(5, 1_000_000)
        {
            MaxReadSize = 65_536,
            OnProgress = position =>
            {
                if (position > 500_000)
                {
                    throw new IOException("client went away");
                }
            },
        };
        await Assert.ThrowsAsync<IOException>(() => _store.AddAsync(failing, Ct));
        Assert.Empty(await ListAsync());
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, ".tmp")));
    }

    [Fact]
    public async Task Add_StoresUnderShardedPathNamedByCid()
    {
        var stored = await _store.AddAsync(new MemoryStream("x"u8.ToArray()), Ct);
        var path = _store.PathOf(stored.Cid);
        Assert.True(File.Exists(path));
        Assert.Equal(stored.Cid.ToString(), Path.GetFileName(path));
        Assert.Equal([stored.Cid], await ListAsync());
    }

    private async Task<List<Cid>> ListAsync()
    {
        var list = new List<Cid>();
        await foreach (var cid in _store.ListAsync(Ct))
        {
            list.Add(cid);
        }
        return list;
    }

    internal static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, TestContext.Current.CancellationToken);
        return buffer.ToArray();
    }
}

internal static class LocalContentStoreWriting
{
    /// <summary>The push-style path (the spool's tee): buffered writes, in pieces of 1000 bytes.</summary>
    public static async Task<Cid> BeginWriteAndCommitAsync(this LocalContentStore store, byte[] bytes)
    {
        await using var writer = store.BeginWrite();
        for (int at = 0; at < bytes.Length; at += 1000)
        {
            await writer.WriteAsync(bytes.AsMemory(at, Math.Min(1000, bytes.Length - at)), TestContext.Current.CancellationToken);
        }

        return (await writer.CommitAsync(TestContext.Current.CancellationToken)).Cid;
    }
}
