using System.Security.Cryptography;
using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

/// <summary>The node killed mid-upload and brought back. These tests own their node (they stop it).</summary>
public sealed class NodeDownTests(IpfsNodeFixture node) : IClassFixture<IpfsNodeFixture>, IAsyncLifetime
{
    private const long KillAfterBytes = 4 * 1024 * 1024;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detach-spool-" + Guid.NewGuid().ToString("N")[..12]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // Each test starts with a running node (the previous one may have stopped it).
        if (node.SkipReason is null)
        {
            await node.EnsureRunningAsync();
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Add_NodeKilledDuringUpload_FailsUnavailable_AndNothingIsPinned()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var store = new KuboContentStore(client);
        const long size = 45L * 1024 * 1024;
        var upload = new PatternStream(301, size) { MaxReadSize = 64 * 1024, OnProgress = KillNodeOnceAfter(KillAfterBytes) };

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.AddAsync(upload, Ct));
        Assert.False(node.IsRunning);
        Assert.True(upload.Position < size);

        await node.StartAsync();
        var cid = (await new LocalContentStore(Path.Combine(_root, "expected")).AddAsync(new PatternStream(301, size), Ct)).Cid;
        Assert.Empty(await client.PinLsAsync(cid, Ct));
        Assert.DoesNotContain(await client.PinLsAsync(null, Ct), p => p.Cid == cid);
    }

    [Fact]
    public async Task Spool_NodeKilledDuringUpload_KeepsTheAttachment_AndPushesItWhenBack()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.Spool);
        const long size = 20L * 1024 * 1024 + 12345;
        var upload = new PatternStream(302, size) { MaxReadSize = 64 * 1024, OnProgress = KillNodeOnceAfter(KillAfterBytes) };

        var stored = await store.AddAsync(upload, Ct);

        Assert.False(node.IsRunning);
        Assert.Equal(size, stored.Size);
        var expected = await new LocalContentStore(Path.Combine(_root, "expected")).AddAsync(new PatternStream(302, size), Ct);
        Assert.Equal(expected.Cid, stored.Cid);
        Assert.True(await spool.ContainsAsync(stored.Cid, Ct));
        await AssertContentAsync(store, stored.Cid, 302, size);

        var pusher = new SpoolPusher(spool, client);
        Assert.Equal(0, await pusher.PushPendingAsync(Ct));
        Assert.True(await spool.ContainsAsync(stored.Cid, Ct));

        await node.StartAsync();
        Assert.Equal(1, await pusher.PushPendingAsync(Ct));
        Assert.False(await spool.ContainsAsync(stored.Cid, Ct));
        Assert.Contains(await client.PinLsAsync(stored.Cid, Ct), p => p.Cid == stored.Cid);
        await AssertContentAsync(store, stored.Cid, 302, size);
        await AssertContentAsync(new KuboContentStore(client), stored.Cid, 302, size);
    }

    [Fact]
    public async Task Spool_NodeDown_SeveralAttachments_AllPushedWhenBack()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.Spool);
        node.Kill();
        Assert.True(await store.IsAvailableAsync(Ct));

        (ulong Seed, long Size)[] items = [(401, 0), (402, 1000), (403, 600_000)];
        var cids = new List<Cid>();
        foreach (var (seed, size) in items)
        {
            cids.Add((await store.AddAsync(new PatternStream(seed, size), Ct)).Cid);
        }
        Assert.Equal(3, cids.Distinct().Count());

        await node.StartAsync();
        Assert.Equal(3, await new SpoolPusher(spool, client).PushPendingAsync(Ct));
        var kubo = new KuboContentStore(client);
        for (var i = 0; i < items.Length; i++)
        {
            Assert.False(await spool.ContainsAsync(cids[i], Ct));
            await AssertContentAsync(kubo, cids[i], items[i].Seed, items[i].Size);
        }
        Assert.Equal(0, await new SpoolPusher(spool, client).PushPendingAsync(Ct));
    }

    [Fact]
    public async Task Spool_NodeHung_AddGivesUpAfterTheIdleTimeoutAndSpools()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(2));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.Spool);
        // More than the loopback socket buffers hold, so the upload really stalls on the frozen node.
        const long size = 40L * 1024 * 1024;
        await node.SignalAsync("STOP");
        StoredContent stored;
        try
        {
            stored = await store.AddAsync(new PatternStream(701, size), Ct);
        }
        finally
        {
            await node.SignalAsync("CONT");
        }
        Assert.True(await spool.ContainsAsync(stored.Cid, Ct));
        await AssertContentAsync(store, stored.Cid, 701, size);
        Assert.Equal(1, await new SpoolPusher(spool, client).PushPendingAsync(Ct));
        await AssertContentAsync(new KuboContentStore(client), stored.Cid, 701, size);
    }

    [Fact]
    public async Task Spool_NodeHung_LaterAddsAreSpooledWithoutWaiting_UntilARetryFindsItBack()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(2));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var kubo = new CountingStore(new KuboContentStore(client));
        var clock = new Index.ManualTimeProvider(DateTimeOffset.UtcNow);
        var store = new SpoolingContentStore(kubo, spool, NodeDownBehavior.Spool, circuit: new NodeCircuit(clock));
        const long size = 40L * 1024 * 1024;
        StoredContent first, second;
        await node.SignalAsync("STOP");
        try
        {
            first = await store.AddAsync(new PatternStream(711, size), Ct);
            second = await store.AddAsync(new PatternStream(721, 300_000), Ct);
        }
        finally
        {
            await node.SignalAsync("CONT");
        }

        Assert.Equal(1, kubo.Adds); // the second add never waited on the frozen node
        Assert.True(await spool.ContainsAsync(first.Cid, Ct));
        Assert.True(await spool.ContainsAsync(second.Cid, Ct));
        await AssertContentAsync(store, second.Cid, 721, 300_000);

        // The pusher finds the node back (it works on its own schedule)...
        Assert.Equal(2, await new SpoolPusher(spool, client).PushPendingAsync(Ct));
        var meanwhile = await store.AddAsync(new PatternStream(731, 300_000), Ct);
        Assert.Equal(1, kubo.Adds);
        Assert.True(await spool.ContainsAsync(meanwhile.Cid, Ct));

        // ...and once the pause is over, one add tries the node again, and it takes it.
        clock.Advance(NodeCircuit.FirstPause);
        var retried = await store.AddAsync(new PatternStream(741, 300_000), Ct);
        Assert.Equal(2, kubo.Adds);
        Assert.False(store.NodeSkipped);
        Assert.False(await spool.ContainsAsync(retried.Cid, Ct));
        Assert.Contains(await client.PinLsAsync(retried.Cid, Ct), p => p.Cid == retried.Cid);
        await AssertContentAsync(new KuboContentStore(client), retried.Cid, 741, 300_000);
    }

    [Fact]
    public async Task TempFail_NodeDown_ThrowsStorageUnavailable_AndSpoolsNothing()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.TempFail);
        node.Kill();

        Assert.False(await store.IsAvailableAsync(Ct));
        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.AddAsync(new PatternStream(501, 300_000), Ct));
        var spooled = new List<Cid>();
        await foreach (var cid in spool.ListAsync(Ct))
        {
            spooled.Add(cid);
        }
        Assert.Empty(spooled);
    }

    [Fact]
    public async Task Spool_NodeUp_StoresOnTheNodeAndLeavesTheSpoolEmpty()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var spool = new LocalContentStore(Path.Combine(_root, "spool"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.Spool);

        var stored = await store.AddAsync(new PatternStream(601, 700_000), Ct);

        Assert.False(await spool.ContainsAsync(stored.Cid, Ct));
        Assert.Empty(Directory.GetFiles(Path.Combine(spool.Root, ".tmp")));
        Assert.Contains(await client.PinLsAsync(stored.Cid, Ct), p => p.Cid == stored.Cid);
        await store.RemoveAsync(stored.Cid, Ct);
        Assert.Empty(await client.PinLsAsync(stored.Cid, Ct));
    }

    /// <summary>The real node, counting the adds that reach it.</summary>
    private sealed class CountingStore(IContentStore inner) : IContentStore
    {
        private int _adds;

        public int Adds => _adds;

        public Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _adds);
            return inner.AddAsync(content, cancellationToken);
        }

        public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken) =>
            inner.OpenReadAsync(cid, offset, length, cancellationToken);

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) => inner.GetSizeAsync(cid, cancellationToken);

        public Task RemoveAsync(Cid cid, CancellationToken cancellationToken) => inner.RemoveAsync(cid, cancellationToken);

        public Task<bool> IsAvailableAsync(CancellationToken cancellationToken) => inner.IsAvailableAsync(cancellationToken);
    }

    private Action<long> KillNodeOnceAfter(long bytes)
    {
        var killed = false;
        return position =>
        {
            if (!killed && position >= bytes)
            {
                killed = true;
                node.Kill();
            }
        };
    }

    private static async Task AssertContentAsync(IContentStore store, Cid cid, ulong seed, long size)
    {
        Assert.Equal(size, await store.GetSizeAsync(cid, Ct));
        await using var read = await store.OpenReadAsync(cid, 0, null, Ct);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        int n;
        while ((n = await read.ReadAsync(buffer, Ct)) > 0)
        {
            sha.AppendData(buffer, 0, n);
        }
        Assert.Equal(PatternStream.Sha256(seed, size), sha.GetHashAndReset());
    }
}
