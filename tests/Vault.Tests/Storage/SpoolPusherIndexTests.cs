using System.Security.Cryptography;
using Detach.Vault.Index;
using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// The pusher asks the index before and after pushing: with several instances on one vault, another instance may
/// revoke (or expire) an object that only this instance's spool holds; its unpin then finds nothing on the node.
/// </summary>
[Collection(SharedIpfsNode.Name)]
public sealed class SpoolPusherIndexTests(IpfsNodeFixture node) : IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("detach-spool-index-");
    private SqliteAttachmentIndex _index = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _index = SqliteAttachmentIndex.ForDataPath(_root.FullName);
        await _index.MigrateAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _index.DisposeAsync();
        _root.Delete(recursive: true);
    }

    [Fact]
    public async Task A_spooled_object_revoked_elsewhere_is_dropped_not_pushed_while_live_and_unindexed_ones_are_pushed()
    {
        node.RequireNode();
        var client = node.CreateClient();
        var spool = new LocalContentStore(Path.Combine(_root.FullName, "spool"));
        var live = (await spool.AddAsync(new MemoryStream(RandomNumberGenerator.GetBytes(70_000)), Ct)).Cid;
        var revoked = (await spool.AddAsync(new MemoryStream(RandomNumberGenerator.GetBytes(70_000)), Ct)).Cid;
        var notYetIndexed = (await spool.AddAsync(new MemoryStream(RandomNumberGenerator.GetBytes(5_000)), Ct)).Cid;
        await _index.AddAsync(Record(live), Ct);
        await _index.AddAsync(Record(revoked), Ct);
        // Another instance revokes it: it can erase the key share, but not unpin what only this spool holds.
        Assert.Single(await _index.RevokeAsync(revoked.ToString(), RevocationReasons.RevokedByAdmin, DateTimeOffset.UtcNow, Ct));

        var pushed = await new SpoolPusher(spool, client, _index).PushPendingAsync(Ct);

        Assert.Equal(2, pushed);
        Assert.Empty(await client.PinLsAsync(revoked, Ct));
        Assert.NotEmpty(await client.PinLsAsync(live, Ct));
        Assert.NotEmpty(await client.PinLsAsync(notYetIndexed, Ct));
        foreach (var cid in new[] { live, revoked, notYetIndexed })
        {
            Assert.False(await spool.ContainsAsync(cid, Ct), $"{cid} left the spool");
        }
    }

    private static AttachmentRecord Record(Cid cid) => new()
    {
        Cid = cid.ToString(),
        VaultKey = RandomNumberGenerator.GetBytes(AttachmentRecord.VaultKeyLength),
        ContentType = "application/octet-stream",
        FileName = "file.bin",
        CreatedAt = DateTimeOffset.UtcNow,
        ExpiresAt = DateTimeOffset.UtcNow.AddDays(1),
        MessageId = "<spool@example.test>",
        SenderDomain = "example.test",
        RecipientCount = 1,
    };
}
