using System.Security.Cryptography;
using Detach.Crypto;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Detach.Vault.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Vault.Tests.Lifecycle;

/// <summary>A clock the tests move: expiry is about dates, not about waiting.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>
/// The vault's promises end to end over a real store and a real SQLite index: links decrypt to the original
/// bytes; after revocation or expiry they never do again, the object is gone from the store, and the index says why.
/// </summary>
public abstract class AttachmentVaultContract : IAsyncLifetime
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "detach-vault-" + Guid.NewGuid().ToString("N")[..12]);

    protected ManualClock Clock { get; } = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));

    protected IAttachmentIndex Index { get; private set; } = null!;

    protected AttachmentVault Vault { get; private set; } = null!;

    protected IContentStore Store { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract Task<IContentStore> CreateStoreAsync(string folder);

    /// <summary>Whether the object is still held by the store (a file, or a pin on the node).</summary>
    protected abstract Task<bool> IsHeldAsync(Cid cid);

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(folder);
        Store = await CreateStoreAsync(folder);
        Index = new SqliteAttachmentIndex($"Data Source={Path.Combine(folder, "index.db")}", Clock);
        await Index.MigrateAsync(Ct);
        Vault = new AttachmentVault(Store, Index,
            new AttachmentVaultOptions
            {
                PublicUrl = "https://files.example.com",
                Retention = TimeSpan.FromDays(30),
                RetentionBySenderDomain = new Dictionary<string, TimeSpan> { ["short.example"] = TimeSpan.FromDays(2) },
            },
            Clock, NullLogger<AttachmentVault>.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        await Index.DisposeAsync();
        Directory.Delete(folder, recursive: true);
    }

    protected async Task<(StoredAttachment Attachment, byte[] Content)> StoreAsync(MessageAttachments message, int size, string name = "plan.pdf")
    {
        var content = RandomNumberGenerator.GetBytes(size);
        var attachment = await message.StoreAsync(new AttachmentFile(name, "application/pdf"), new MemoryStream(content), Ct);
        return (attachment, content);
    }

    protected async Task<byte[]> DecryptAsync(string link)
    {
        var parsed = DownloadLink.Parse(link);
        var (record, key) = await Vault.OpenAsync(parsed.Cid, parsed.LinkKey, Ct);
        using (key)
        {
            await using var ciphertext = await Store.OpenReadAsync(Cid.Parse(record.Cid), 0, null, Ct);
            await using var plaintext = new RecordDecryptStream(ciphertext, key);
            var copy = new MemoryStream();
            await plaintext.CopyToAsync(copy, Ct);
            return copy.ToArray();
        }
    }

    private static Cid CidOf(string link) => Cid.Parse(DownloadLink.Parse(link).Cid);

    [Fact]
    public async Task A_committed_attachment_decrypts_from_its_link_and_only_with_its_key()
    {
        await using var message = Vault.BeginMessage(new MessageContext("<m1@example.com>", "example.com", 4));
        var (attachment, content) = await StoreAsync(message, 200_000);
        await message.CommitAsync(Ct);

        Assert.StartsWith("https://files.example.com/d/", attachment.Link, StringComparison.Ordinal);
        Assert.True(attachment.Link.Length < 200);
        Assert.Equal(content.Length, attachment.Record.PlaintextSize);
        Assert.Equal(content, await DecryptAsync(attachment.Link));
        Assert.True(await IsHeldAsync(CidOf(attachment.Link)));

        var record = Assert.Single(await Index.FindByMessageIdAsync("<m1@example.com>", Ct));
        Assert.Equal(StoreState.Stored, record.StoreState);
        Assert.Equal(4, record.RecipientCount);
        Assert.Equal(Clock.Now.AddDays(30), record.ExpiresAt);

        // The link key alone is not the file key: another link key fails authentication before any byte.
        var wrong = attachment.Link[..(attachment.Link.IndexOf('#', StringComparison.Ordinal) + 1)] + LinkKeyText.Encode(RandomNumberGenerator.GetBytes(32));
        await Assert.ThrowsAsync<RecordAuthenticationException>(() => DecryptAsync(wrong));
    }

    [Fact]
    public async Task Revocation_by_message_id_erases_the_key_removes_the_object_and_says_why()
    {
        await using var message = Vault.BeginMessage(new MessageContext("<m2@example.com>", "example.com", 2));
        var (first, _) = await StoreAsync(message, 70_000, "a.pdf");
        var (second, _) = await StoreAsync(message, 10, "b.pdf");
        await message.CommitAsync(Ct);

        var revoked = await Vault.RevokeAsync("<m2@example.com>", RevocationReasons.RevokedByAdmin, Ct);

        Assert.Equal(2, revoked.Count);
        foreach (var link in new[] { first.Link, second.Link })
        {
            var gone = await Assert.ThrowsAsync<AttachmentGoneException>(() => DecryptAsync(link));
            Assert.Equal(RevocationReasons.RevokedByAdmin, gone.Record.RevokedReason);
            Assert.False(await IsHeldAsync(CidOf(link)));
            var record = await Index.FindByCidAsync(CidOf(link).ToString(), Ct);
            Assert.Null(record!.VaultKey);
            Assert.Equal(Clock.Now, record.RevokedAt);
        }
    }

    [Fact]
    public async Task Expiry_erases_the_key_and_removes_the_object()
    {
        await using var message = Vault.BeginMessage(new MessageContext("<m3@example.com>", "example.com", 1));
        var (attachment, content) = await StoreAsync(message, 5000);
        await message.CommitAsync(Ct);

        Clock.Now = Clock.Now.AddDays(29);
        Assert.Empty(await Vault.ExpireAsync(Ct));
        Assert.Equal(content, await DecryptAsync(attachment.Link));

        Clock.Now = Clock.Now.AddDays(2);
        // Past expiry the link is refused even before the sweep runs...
        await Assert.ThrowsAsync<AttachmentGoneException>(() => DecryptAsync(attachment.Link));
        // ...and the sweep erases the key share and removes the object.
        Assert.Single(await Vault.ExpireAsync(Ct));
        var record = await Index.FindByCidAsync(CidOf(attachment.Link).ToString(), Ct);
        Assert.Null(record!.VaultKey);
        Assert.Equal(RevocationReasons.Expired, record.RevokedReason);
        Assert.False(await IsHeldAsync(CidOf(attachment.Link)));
    }

    [Fact]
    public async Task A_sender_domain_can_have_its_own_retention()
    {
        await using var message = Vault.BeginMessage(new MessageContext("<m5@short.example>", "SHORT.example", 1));
        var (attachment, _) = await StoreAsync(message, 100);
        await message.CommitAsync(Ct);
        Assert.Equal(Clock.Now.AddDays(2), attachment.Record.ExpiresAt);

        Clock.Now = Clock.Now.AddDays(3);
        Assert.Single(await Vault.ExpireAsync(Ct));
        await Assert.ThrowsAsync<AttachmentGoneException>(() => DecryptAsync(attachment.Link));
    }

    [Fact]
    public async Task Objects_of_a_message_never_accepted_are_collected()
    {
        string link;
        await using (var message = Vault.BeginMessage(new MessageContext("<m4@example.com>", "example.com", 1)))
        {
            link = (await StoreAsync(message, 3000)).Attachment.Link;
            // Disposed without a commit: the next hop never took the message.
        }

        Assert.Equal(StoreState.Orphaned, (await Index.FindByCidAsync(CidOf(link).ToString(), Ct))!.StoreState);
        Assert.Empty(await Vault.CollectOrphansAsync(TimeSpan.FromHours(1), Ct));

        Clock.Now = Clock.Now.AddHours(2);
        Assert.Single(await Vault.CollectOrphansAsync(TimeSpan.FromHours(1), Ct));
        Assert.False(await IsHeldAsync(CidOf(link)));
        Assert.Equal(RevocationReasons.Orphaned, (await Index.FindByCidAsync(CidOf(link).ToString(), Ct))!.RevokedReason);
    }

    /// <summary>
    /// Committed just before the final dot, and then nothing: the next hop's reply never came (or this process died).
    /// The copy it may have delivered keeps a working link, however long the sweep waits.
    /// </summary>
    [Fact]
    public async Task A_committed_message_whose_outcome_is_unknown_survives_the_orphan_sweep()
    {
        string link;
        byte[] content;
        await using (var message = Vault.BeginMessage(new MessageContext("<m6@example.com>", "example.com", 1)))
        {
            (var attachment, content) = await StoreAsync(message, 3000);
            link = attachment.Link;
            await message.CommitAsync(Ct);
        }

        Clock.Now = Clock.Now.AddDays(1);
        Assert.Empty(await Vault.CollectOrphansAsync(TimeSpan.Zero, Ct));
        Assert.Equal(content, await DecryptAsync(link));
    }

    [Fact]
    public async Task A_message_the_next_hop_refused_after_the_commit_is_collected()
    {
        string link;
        await using (var message = Vault.BeginMessage(new MessageContext("<m7@example.com>", "example.com", 1)))
        {
            link = (await StoreAsync(message, 3000)).Attachment.Link;
            await message.CommitAsync(Ct);
            await message.AbandonAsync(Ct);
        }

        Clock.Now = Clock.Now.AddHours(2);
        Assert.Single(await Vault.CollectOrphansAsync(TimeSpan.FromHours(1), Ct));
        Assert.False(await IsHeldAsync(CidOf(link)));
    }

    /// <summary>A message so slow that the sweep took one of its objects first must not go out: its commit fails.</summary>
    [Fact]
    public async Task A_commit_after_the_sweep_took_an_object_fails_and_leaves_no_object_live()
    {
        await using var message = Vault.BeginMessage(new MessageContext("<m8@example.com>", "example.com", 1));
        var (first, _) = await StoreAsync(message, 3000, "a.pdf");
        Clock.Now = Clock.Now.AddHours(2);
        Assert.Single(await Vault.CollectOrphansAsync(TimeSpan.FromHours(1), Ct));
        var (second, _) = await StoreAsync(message, 3000, "b.pdf");

        await Assert.ThrowsAsync<InvalidOperationException>(() => message.CommitAsync(Ct));

        Assert.Equal(RevocationReasons.Orphaned, (await Index.FindByCidAsync(CidOf(first.Link).ToString(), Ct))!.RevokedReason);
        Assert.Equal(StoreState.Orphaned, (await Index.FindByCidAsync(CidOf(second.Link).ToString(), Ct))!.StoreState);
    }
}

public sealed class AttachmentVaultOnLocalStoreTests : AttachmentVaultContract
{
    private LocalContentStore local = null!;

    protected override Task<IContentStore> CreateStoreAsync(string folder)
    {
        local = new LocalContentStore(Path.Combine(folder, "store"));
        return Task.FromResult<IContentStore>(local);
    }

    protected override Task<bool> IsHeldAsync(Cid cid) => local.ContainsAsync(cid, Ct);
}

[Collection(SharedIpfsNode.Name)]
public sealed class AttachmentVaultOnIpfsTests(IpfsNodeFixture node) : AttachmentVaultContract
{
    private KuboClient client = null!;

    protected override Task<IContentStore> CreateStoreAsync(string folder)
    {
        node.RequireNode();
        client = node.CreateClient();
        return Task.FromResult<IContentStore>(new KuboContentStore(client));
    }

    protected override async Task<bool> IsHeldAsync(Cid cid) => (await client.PinLsAsync(cid, Ct)).Count > 0;
}
