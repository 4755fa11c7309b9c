using Detach.Vault.Storage;
using Detach.Vault.Tests.Index;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// <see cref="SpoolingContentStore"/> after the node failed an add: the next adds do not ask it until the pause is
/// over. The node is a local store that fails on demand (NodeDownTests has the same with the real node). Seeds are odd:
/// PatternStream makes seeds 2k and 2k+1 the same stream.
/// </summary>
public sealed class SpoolingCircuitTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detach-circuit-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 12, 5, 4, 0, 0, TimeSpan.Zero));
    private readonly FlakyNode _node;
    private readonly LocalContentStore _spool;

    public SpoolingCircuitTests()
    {
        _node = new FlakyNode(new LocalContentStore(Path.Combine(_root, "node")));
        _spool = new LocalContentStore(Path.Combine(_root, "spool"));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Spool_after_a_failure_adds_go_to_the_spool_without_asking_the_node_until_the_pause_is_over()
    {
        var store = new SpoolingContentStore(_node, _spool, NodeDownBehavior.Spool, circuit: new NodeCircuit(_clock));
        _node.Down = true;

        var first = await store.AddAsync(new PatternStream(101, 300_000), Ct);
        var second = await store.AddAsync(new PatternStream(103, 300_000), Ct);

        Assert.Equal(1, _node.Adds);
        Assert.True(store.NodeSkipped);
        Assert.True(await _spool.ContainsAsync(first.Cid, Ct));
        Assert.True(await _spool.ContainsAsync(second.Cid, Ct));
        Assert.Equal(await CidOf(103, 300_000), second.Cid);

        // The pause is over, but the node is still down: one add asks it, and the pause doubles.
        _clock.Advance(NodeCircuit.FirstPause);
        await store.AddAsync(new PatternStream(105, 1000), Ct);
        Assert.Equal(2, _node.Adds);
        _clock.Advance(NodeCircuit.FirstPause);
        await store.AddAsync(new PatternStream(107, 1000), Ct);
        Assert.Equal(2, _node.Adds);

        // Back: the retry lands on the node, and so does everything after it.
        _node.Down = false;
        _clock.Advance(NodeCircuit.FirstPause);
        var back = await store.AddAsync(new PatternStream(109, 1000), Ct);
        var after = await store.AddAsync(new PatternStream(111, 1000), Ct);
        Assert.Equal(4, _node.Adds);
        Assert.False(store.NodeSkipped);
        Assert.False(await _spool.ContainsAsync(back.Cid, Ct));
        Assert.False(await _spool.ContainsAsync(after.Cid, Ct));
        Assert.NotNull(await _node.GetSizeAsync(after.Cid, Ct));
    }

    [Fact]
    public async Task TempFail_after_a_failure_adds_are_refused_at_once_until_the_pause_is_over()
    {
        var store = new SpoolingContentStore(_node, _spool, NodeDownBehavior.TempFail, circuit: new NodeCircuit(_clock));
        _node.Down = true;

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.AddAsync(new PatternStream(201, 1000), Ct));
        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.AddAsync(new PatternStream(203, 1000), Ct));
        Assert.Equal(1, _node.Adds);
        Assert.Contains("tried again from 2026-12-05 04:00:05Z", refused.Message);

        _node.Down = false;
        _clock.Advance(NodeCircuit.FirstPause);
        var stored = await store.AddAsync(new PatternStream(205, 1000), Ct);
        Assert.Equal(2, _node.Adds);
        Assert.NotNull(await _node.GetSizeAsync(stored.Cid, Ct));
        await foreach (var _ in _spool.ListAsync(Ct))
        {
            Assert.Fail("TempFail spools nothing");
        }
    }

    [Fact]
    public async Task A_message_whose_own_source_fails_tells_nothing_about_the_node()
    {
        var store = new SpoolingContentStore(_node, _spool, NodeDownBehavior.Spool, circuit: new NodeCircuit(_clock));
        var broken = new PatternStream(301, 1_000_000) { OnProgress = FailAfter(100_000) };

        await Assert.ThrowsAsync<IOException>(() => store.AddAsync(broken, Ct));

        Assert.False(store.NodeSkipped);
        await store.AddAsync(new PatternStream(303, 1000), Ct);
        Assert.Equal(2, _node.Adds);
    }

    private static Action<long> FailAfter(long bytes) => position =>
    {
        if (position > bytes)
        {
            throw new IOException("the client went away");
        }
    };

    private async Task<Cid> CidOf(ulong seed, long size) =>
        (await new LocalContentStore(Path.Combine(_root, "expected")).AddAsync(new PatternStream(seed, size), Ct)).Cid;

    /// <summary>A node that, while <see cref="Down"/>, reads part of the upload and then fails as an unreachable node does.</summary>
    private sealed class FlakyNode(LocalContentStore inner) : IContentStore
    {
        private int _adds;

        public bool Down { get; set; }

        public int Adds => _adds;

        public async Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _adds);
            if (!Down)
            {
                return await inner.AddAsync(content, cancellationToken);
            }

            await content.ReadAtLeastAsync(new byte[4096], 1, throwOnEndOfStream: false, cancellationToken);
            throw new StorageUnavailableException("the node stopped answering");
        }

        public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken) =>
            inner.OpenReadAsync(cid, offset, length, cancellationToken);

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) => inner.GetSizeAsync(cid, cancellationToken);

        public Task RemoveAsync(Cid cid, CancellationToken cancellationToken) => inner.RemoveAsync(cid, cancellationToken);

        public Task<bool> IsAvailableAsync(CancellationToken cancellationToken) => Task.FromResult(!Down);
    }
}
