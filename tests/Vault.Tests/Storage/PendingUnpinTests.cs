using System.Security.Cryptography;
using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// An unpin that finds the node down (a key erased by expiry or revocation during an outage) is kept and done by the
/// pusher once the node is back. Before, the object stayed pinned for ever (found by the soak run: pins grew by every
/// expiry sweep that fell into a node restart). These tests own their node (they stop it).
/// </summary>
public sealed class PendingUnpinTests(IpfsNodeFixture node) : IClassFixture<IpfsNodeFixture>, IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("detach-unpin-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (node.SkipReason is null)
        {
            await node.EnsureRunningAsync();
        }
    }

    public ValueTask DisposeAsync()
    {
        _root.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task An_unpin_while_the_node_is_down_is_kept_and_done_by_the_pusher_when_it_is_back()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var spool = new LocalContentStore(Path.Combine(_root.FullName, "spool"));
        var unpins = new PendingUnpins(Path.Combine(_root.FullName, "unpin"));
        var store = new SpoolingContentStore(new KuboContentStore(client), spool, NodeDownBehavior.Spool, pendingUnpins: unpins);
        var cid = (await store.AddAsync(new MemoryStream(RandomNumberGenerator.GetBytes(100_000)), Ct)).Cid;
        Assert.NotEmpty(await client.PinLsAsync(cid, Ct));

        node.Kill();
        await store.RemoveAsync(cid, Ct);

        Assert.Equal([cid], unpins.List());
        var pusher = new SpoolPusher(spool, client, pendingUnpins: unpins);
        Assert.Equal(0, await pusher.PushPendingAsync(Ct));
        Assert.Equal([cid], unpins.List());

        await node.StartAsync();
        Assert.NotEmpty(await client.PinLsAsync(cid, Ct));
        await pusher.PushPendingAsync(Ct);

        Assert.Empty(await client.PinLsAsync(cid, Ct));
        Assert.Empty(unpins.List());
    }

    [Fact]
    public async Task Without_pending_unpins_a_dead_node_still_fails_the_removal()
    {
        node.RequireNode();
        var client = node.CreateClient(TimeSpan.FromSeconds(5));
        var store = new SpoolingContentStore(new KuboContentStore(client), new LocalContentStore(Path.Combine(_root.FullName, "spool")), NodeDownBehavior.Spool);
        var cid = (await store.AddAsync(new MemoryStream(RandomNumberGenerator.GetBytes(1_000)), Ct)).Cid;

        node.Kill();

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.RemoveAsync(cid, Ct));
    }
}
