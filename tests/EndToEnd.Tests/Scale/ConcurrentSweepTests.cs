using System.Collections.Concurrent;
using System.Security.Cryptography;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using PostgresServerFixture = Detach.Vault.Tests.Index.PostgresServerFixture;

namespace Detach.EndToEnd.Tests.Scale;

/// <summary>
/// Two vaults on one PostgreSQL index, each with its own connection pool as two processes have, sweeping at the
/// very same moment (the end-to-end test's gc processes start seconds apart; here they are released together):
/// expiry, orphan collection and revocations by Message-ID from both sides, round after round. Each object must be
/// removed from the store exactly once, and no sweep may fail (a deadlock between the UPDATEs would).
/// </summary>
public sealed class ConcurrentSweepTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>
{
    private const int Rounds = 12;
    private const int MessagesPerRound = 30;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sweeps_from_two_instances_at_once_remove_each_object_exactly_once()
    {
        if (postgres.SkipReason is not null)
        {
            Assert.Skip(postgres.SkipReason);
        }

        var removals = new ConcurrentDictionary<string, int>();
        var store = new CountingStore(removals);
        await using var indexA = new NpgsqlAttachmentIndex(postgres.ConnectionString!);
        await using var indexB = new NpgsqlAttachmentIndex(postgres.ConnectionString!);
        await Task.WhenAll(indexA.MigrateAsync(Token), indexB.MigrateAsync(Token));
        var vaultA = Vault(indexA, store);
        var vaultB = Vault(indexB, store);

        var collected = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            // Per message three attachments, some past retention, some never accepted an hour ago, some live.
            var messages = new List<(string MessageId, AttachmentRecord[] Records)>();
            var now = DateTimeOffset.UtcNow;
            for (var m = 0; m < MessagesPerRound; m++)
            {
                var messageId = $"<sweep.{round}.{m}.{Guid.NewGuid():N}@example.test>";
                var records = Enumerable.Range(0, 3).Select(_ => (m % 3) switch
                {
                    0 => Record(messageId, now.AddHours(-2), now.AddMinutes(-1), StoreState.Stored),
                    1 => Record(messageId, now.AddHours(-2), now.AddDays(1), StoreState.Orphaned),
                    _ => Record(messageId, now, now.AddDays(1), StoreState.Stored),
                }).ToArray();
                await indexA.AddBatchAsync(records, Token);
                messages.Add((messageId, records));
            }

            // Each side revokes every live message the other side does too, in the opposite order.
            var live = messages.Where((_, m) => m % 3 == 2).Select(x => x.MessageId).ToArray();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sweeps = new Func<Task<IReadOnlyList<AttachmentRecord>>>[]
            {
                () => vaultA.ExpireAsync(Token),
                () => vaultB.ExpireAsync(Token),
                () => vaultA.CollectOrphansAsync(TimeSpan.FromHours(1), Token),
                () => vaultB.CollectOrphansAsync(TimeSpan.FromHours(1), Token),
                () => RevokeAllAsync(vaultA, live),
                () => RevokeAllAsync(vaultB, live.Reverse()),
            }.Select(async sweep =>
            {
                await start.Task;
                return await sweep();
            }).ToArray();
            start.SetResult();
            var results = await Task.WhenAll(sweeps);

            var shredded = results.SelectMany(r => r).Select(r => r.Cid).ToArray();
            Assert.Equal(shredded.Length, shredded.Distinct().Count());
            Assert.Equal(messages.SelectMany(x => x.Records).Select(r => r.Cid).Order(), shredded.Order());
            collected.AddRange(shredded);
        }

        Assert.Equal(collected.Order(), removals.Keys.Order());
        Assert.All(removals, r => Assert.Equal(1, r.Value));
    }

    private static async Task<IReadOnlyList<AttachmentRecord>> RevokeAllAsync(AttachmentVault vault, IEnumerable<string> messageIds)
    {
        var revoked = new List<AttachmentRecord>();
        foreach (var messageId in messageIds)
        {
            revoked.AddRange(await vault.RevokeAsync(messageId, RevocationReasons.RevokedByAdmin, Token));
        }

        return revoked;
    }

    private static AttachmentVault Vault(IAttachmentIndex index, IContentStore store) =>
        new(store, index, new AttachmentVaultOptions { PublicUrl = "https://files.example.test" }, TimeProvider.System, NullLogger<AttachmentVault>.Instance);

    private static AttachmentRecord Record(string messageId, DateTimeOffset created, DateTimeOffset expires, StoreState state) => new()
    {
        Cid = Cid.Create(Cid.RawCodec, RandomNumberGenerator.GetBytes(32)).ToString(),
        VaultKey = RandomNumberGenerator.GetBytes(AttachmentRecord.VaultKeyLength),
        ContentType = "application/octet-stream",
        FileName = "file.bin",
        CreatedAt = created,
        ExpiresAt = expires,
        MessageId = messageId,
        SenderDomain = "example.test",
        RecipientCount = 1,
        StoreState = state,
    };

    /// <summary>A store that only counts removals per CID (the sweeps never read or add).</summary>
    private sealed class CountingStore(ConcurrentDictionary<string, int> removals) : IContentStore
    {
        public Task RemoveAsync(Cid cid, CancellationToken ct)
        {
            removals.AddOrUpdate(cid.ToString(), 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }

        public Task<StoredContent> AddAsync(Stream content, CancellationToken ct) => throw new NotSupportedException();

        public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken ct) => throw new NotSupportedException();

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> IsAvailableAsync(CancellationToken ct) => Task.FromResult(true);
    }
}
