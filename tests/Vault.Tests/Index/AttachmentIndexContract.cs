using System.Data.Common;
using Detach.Vault.Index;

namespace Detach.Vault.Tests.Index;

/// <summary>
/// Behaviour every <see cref="IAttachmentIndex"/> must show; each backend runs all of it against a real engine.
/// Each test gets a fresh, empty store.
/// </summary>
public abstract partial class AttachmentIndexContract : IAsyncLifetime
{
    private readonly List<IAttachmentIndex> _opened = [];

    private protected ManualTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Creates the empty store this test uses (a folder, a schema).</summary>
    protected abstract ValueTask CreateStoreAsync();

    protected abstract ValueTask DeleteStoreAsync();

    /// <summary>A new index instance over this test's store, as a second Detach instance would open it.</summary>
    protected abstract IAttachmentIndex CreateIndex(TimeProvider time);

    /// <summary>A plain connection to the store, bypassing the index.</summary>
    protected abstract Task<DbConnection> OpenRawConnectionAsync();

    public async ValueTask InitializeAsync() => await CreateStoreAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var index in _opened)
        {
            await index.DisposeAsync();
        }

        await DeleteStoreAsync();
        GC.SuppressFinalize(this);
    }

    protected IAttachmentIndex Open()
    {
        var index = CreateIndex(Time);
        _opened.Add(index);
        return index;
    }

    protected async Task<IAttachmentIndex> OpenMigratedAsync()
    {
        var index = Open();
        await index.MigrateAsync(Ct);
        return index;
    }

    protected async Task<List<object?>> RawColumnAsync(string sql, string? cid = null)
    {
        await using var connection = await OpenRawConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (cid is not null)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@cid";
            p.Value = cid;
            command.Parameters.Add(p);
        }

        var values = new List<object?>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            values.Add(reader.IsDBNull(0) ? null : reader.GetValue(0));
        }

        return values;
    }

    protected async Task<byte[]?> RawVaultKeyAsync(string cid)
    {
        var values = await RawColumnAsync("SELECT vault_key FROM attachments WHERE cid = @cid", cid);
        return Assert.Single(values) as byte[];
    }

    private async Task<List<long>> SchemaVersionsAsync() =>
        (await RawColumnAsync("SELECT version FROM schema_version ORDER BY version")).Select(v => Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    // ---- migrations ----

    [Fact]
    public async Task Migrate_RunTwice_RecordsEachVersionOnce()
    {
        var index = Open();
        Assert.False(await index.PingAsync(Ct));

        await index.MigrateAsync(Ct);
        var first = await SchemaVersionsAsync();
        await index.MigrateAsync(Ct);
        await Open().MigrateAsync(Ct);

        Assert.NotEmpty(first);
        Assert.Equal(Enumerable.Range(1, first.Count).Select(v => (long)v), first);
        Assert.Equal(first, await SchemaVersionsAsync());
        Assert.True(await index.PingAsync(Ct));
    }

    [Fact]
    public async Task Migrate_FromSeveralInstancesAtOnce_AppliesEachVersionOnce()
    {
        var instances = Enumerable.Range(0, 4).Select(_ => Open()).ToList();

        await Task.WhenAll(instances.Select(i => Task.Run(() => i.MigrateAsync(Ct), Ct)));

        var versions = await SchemaVersionsAsync();
        Assert.Equal(Enumerable.Range(1, versions.Count).Select(v => (long)v), versions);
        var record = TestRecords.New(Time.GetUtcNow());
        await instances[0].AddAsync(record, Ct);
        Assert.NotNull(await instances[3].FindByCidAsync(record.Cid, Ct));
    }

    [Fact]
    public async Task Migrate_OnASchemaNewerThanThisBuild_Refuses()
    {
        var index = await OpenMigratedAsync();
        await using (var connection = await OpenRawConnectionAsync())
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "INSERT INTO schema_version (version, description, applied_at) " +
                "SELECT MAX(version) + 1, 'from the future', MAX(applied_at) FROM schema_version";
            await command.ExecuteNonQueryAsync(Ct);
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => index.MigrateAsync(Ct));

        Assert.Contains("upgrade Detach", error.Message, StringComparison.Ordinal);
    }

    // ---- add and find ----

    [Fact]
    public async Task Add_ThenFindByCid_ReturnsEveryField()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow(), recipients: 7, maxDownloads: 3, state: StoreState.Spooled,
            fileName: "Übersicht 2026.xlsx", contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") with
        {
            Downloads = 1,
            SenderDomain = "mail.example.net",
        };

        var id = await index.AddAsync(record, Ct);
        var found = await index.FindByCidAsync(record.Cid, Ct);

        Assert.NotNull(found);
        Assert.True(id > 0);
        Assert.Equal(record.VaultKey, found.VaultKey);
        Assert.Equal(record with { Id = id, VaultKey = found.VaultKey }, found);
    }

    [Fact]
    public async Task Add_StoresTimesAsUtcMilliseconds()
    {
        var index = await OpenMigratedAsync();
        var local = new DateTimeOffset(2026, 11, 23, 10, 30, 15, 123, TimeSpan.FromHours(2)).AddTicks(4567);
        var record = TestRecords.New(local);

        await index.AddAsync(record, Ct);
        var found = await index.FindByCidAsync(record.Cid, Ct);

        Assert.NotNull(found);
        Assert.Equal(TimeSpan.Zero, found.CreatedAt.Offset);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 8, 30, 15, 123, TimeSpan.Zero), found.CreatedAt);
        Assert.Equal(local.AddDays(30).ToUnixTimeMilliseconds(), found.ExpiresAt.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task AddBatch_AssignsIncreasingIds_FindByMessageIdReturnsThemInOrder()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var messageId = TestRecords.NewMessageId();
        var batch = Enumerable.Range(0, 3).Select(i => TestRecords.New(now, messageId, fileName: $"part{i}.bin")).ToList();
        await index.AddAsync(TestRecords.New(now), Ct);

        var ids = await index.AddBatchAsync(batch, Ct);
        var found = await index.FindByMessageIdAsync(messageId, Ct);

        Assert.Equal(3, ids.Count);
        Assert.True(ids[0] < ids[1] && ids[1] < ids[2]);
        Assert.Equal(ids, found.Select(r => r.Id));
        Assert.Equal(["part0.bin", "part1.bin", "part2.bin"], found.Select(r => r.FileName));
        Assert.Empty(await index.FindByMessageIdAsync("<nobody@example.org>", Ct));
    }

    [Fact]
    public async Task AddBatch_WithADuplicateCid_AddsNothing()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var first = TestRecords.New(now);
        var second = TestRecords.New(now);
        var duplicate = TestRecords.New(now) with { Cid = first.Cid };

        await Assert.ThrowsAnyAsync<DbException>(() => index.AddBatchAsync([first, second, duplicate], Ct));

        Assert.Null(await index.FindByCidAsync(first.Cid, Ct));
        Assert.Null(await index.FindByCidAsync(second.Cid, Ct));
        await index.AddAsync(first, Ct);
        await Assert.ThrowsAnyAsync<DbException>(() => index.AddAsync(duplicate, Ct));
    }

    [Fact]
    public async Task Add_RejectsAKeyOfTheWrongLengthWithoutShowingIt()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow());
        var shortKey = record.VaultKey![..16];

        var error = await Assert.ThrowsAsync<ArgumentException>(() => index.AddAsync(record with { VaultKey = shortKey }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => index.AddAsync(record with { VaultKey = null }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => index.AddAsync(record with { RevokedAt = Time.GetUtcNow() }, Ct));

        Assert.DoesNotContain(Convert.ToHexString(shortKey), error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Null(await index.FindByCidAsync(record.Cid, Ct));
    }

    [Fact]
    public async Task FindByCid_Unknown_ReturnsNull()
    {
        var index = await OpenMigratedAsync();
        Assert.Null(await index.FindByCidAsync(TestRecords.NewCid(), Ct));
    }

    // ---- revoke and expire: crypto-shredding ----

    [Fact]
    public async Task Revoke_ByCid_ShredsOnlyThatAttachment()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var messageId = TestRecords.NewMessageId();
        var target = TestRecords.New(now, messageId);
        var sibling = TestRecords.New(now, messageId);
        await index.AddBatchAsync([target, sibling], Ct);
        var revokedAt = now.AddHours(1);

        var shredded = await index.RevokeAsync(target.Cid, RevocationReasons.RevokedByAdmin, revokedAt, Ct);

        var record = Assert.Single(shredded);
        Assert.Equal(target.Cid, record.Cid);
        Assert.Null(record.VaultKey);
        Assert.Equal(revokedAt, record.RevokedAt);
        Assert.Equal(RevocationReasons.RevokedByAdmin, record.RevokedReason);
        Assert.Null(await RawVaultKeyAsync(target.Cid));
        Assert.Equal(sibling.VaultKey, await RawVaultKeyAsync(sibling.Cid));
        var found = await index.FindByCidAsync(target.Cid, Ct);
        Assert.True(found!.IsShredded);
        Assert.Null(found.VaultKey);
        Assert.Empty(await index.RevokeAsync(target.Cid, "again", revokedAt, Ct));
    }

    [Fact]
    public async Task Revoke_ByMessageId_ShredsEveryAttachmentOfThatMessage()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var messageId = TestRecords.NewMessageId();
        var parts = Enumerable.Range(0, 3).Select(_ => TestRecords.New(now, messageId)).ToList();
        var other = TestRecords.New(now);
        await index.AddBatchAsync([.. parts, other], Ct);

        var shredded = await index.RevokeAsync(messageId, "reported as phishing", now, Ct);

        Assert.Equal(parts.Select(p => p.Cid), shredded.Select(r => r.Cid));
        Assert.All(shredded, r => Assert.Equal("reported as phishing", r.RevokedReason));
        foreach (var part in parts)
        {
            Assert.Null(await RawVaultKeyAsync(part.Cid));
        }

        Assert.Equal(other.VaultKey, await RawVaultKeyAsync(other.Cid));
        Assert.Empty(await index.RevokeAsync(TestRecords.NewCid(), "unknown", now, Ct));
    }

    [Fact]
    public async Task Expire_ShredsWhatIsPastItsExpiryOnce()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var pastDue = TestRecords.New(now.AddDays(-2), lifetime: TimeSpan.FromDays(1));
        var dueNow = TestRecords.New(now.AddDays(-1), lifetime: TimeSpan.FromDays(1));
        var future = TestRecords.New(now, lifetime: TimeSpan.FromMinutes(1));
        var revokedEarlier = TestRecords.New(now.AddDays(-3), lifetime: TimeSpan.FromDays(1));
        await index.AddBatchAsync([pastDue, dueNow, future, revokedEarlier], Ct);
        await index.RevokeAsync(revokedEarlier.Cid, RevocationReasons.RevokedByAdmin, now.AddDays(-3), Ct);

        var expired = await index.ExpireAsync(now, Ct);

        Assert.Equal([pastDue.Cid, dueNow.Cid], expired.Select(r => r.Cid));
        Assert.All(expired, r =>
        {
            Assert.Null(r.VaultKey);
            Assert.Equal(RevocationReasons.Expired, r.RevokedReason);
            Assert.Equal(now, r.RevokedAt);
        });
        Assert.Null(await RawVaultKeyAsync(pastDue.Cid));
        Assert.Null(await RawVaultKeyAsync(dueNow.Cid));
        Assert.Equal(future.VaultKey, await RawVaultKeyAsync(future.Cid));
        Assert.Equal(RevocationReasons.RevokedByAdmin, (await index.FindByCidAsync(revokedEarlier.Cid, Ct))!.RevokedReason);
        Assert.Empty(await index.ExpireAsync(now, Ct));
        Assert.Equal([future.Cid], (await index.ExpireAsync(now.AddMinutes(1), Ct)).Select(r => r.Cid));
    }

    [Fact]
    public async Task Expire_FromSeveralInstancesAtOnce_ReturnsEachRecordOnce()
    {
        var first = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var records = Enumerable.Range(0, 40).Select(_ => TestRecords.New(now.AddDays(-2), lifetime: TimeSpan.FromDays(1))).ToList();
        await first.AddBatchAsync(records, Ct);
        var instances = new[] { first, Open(), Open(), Open() };

        var swept = await Task.WhenAll(instances.Select(i => Task.Run(() => i.ExpireAsync(now, Ct), Ct)));

        var cids = swept.SelectMany(s => s).Select(r => r.Cid).ToList();
        Assert.Equal(records.Select(r => r.Cid).Order(StringComparer.Ordinal), cids.Order(StringComparer.Ordinal));
    }

    // ---- downloads ----

    [Fact]
    public async Task TryCountDownload_FiftyAtOnceWithALimitOfTen_AdmitsExactlyTen()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow(), maxDownloads: 10);
        await index.AddAsync(record, Ct);

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => index.TryCountDownloadAsync(record.Cid, null, Ct), Ct)));

        Assert.Equal(10, results.Count(r => r));
        Assert.Equal(10, (await index.FindByCidAsync(record.Cid, Ct))!.Downloads);
        Assert.False(await index.TryCountDownloadAsync(record.Cid, null, Ct));
    }

    [Fact]
    public async Task TryCountDownload_TheCallersLimitHoldsForRecordsWithoutTheirOwn_AndTheirsWins()
    {
        var index = await OpenMigratedAsync();
        var unlimited = TestRecords.New(Time.GetUtcNow());
        var ownLimit = TestRecords.New(Time.GetUtcNow(), maxDownloads: 3);
        await index.AddBatchAsync([unlimited, ownLimit], Ct);

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => index.TryCountDownloadAsync(unlimited.Cid, 2, Ct), Ct)));
        Assert.Equal(2, results.Count(r => r));
        Assert.Equal(2, (await index.FindByCidAsync(unlimited.Cid, Ct))!.Downloads);

        Assert.True(await index.TryCountDownloadAsync(ownLimit.Cid, 1, Ct));
        Assert.True(await index.TryCountDownloadAsync(ownLimit.Cid, 1, Ct));
        Assert.True(await index.TryCountDownloadAsync(ownLimit.Cid, 1, Ct));
        Assert.False(await index.TryCountDownloadAsync(ownLimit.Cid, 10, Ct));
    }

    [Fact]
    public async Task UncountDownload_GivesThePlaceBack_AndNeverGoesBelowZero()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow());
        await index.AddAsync(record, Ct);
        Assert.True(await index.TryCountDownloadAsync(record.Cid, 1, Ct));
        Assert.False(await index.TryCountDownloadAsync(record.Cid, 1, Ct));

        await index.UncountDownloadAsync(record.Cid, Ct);
        Assert.Equal(0, (await index.FindByCidAsync(record.Cid, Ct))!.Downloads);
        await index.UncountDownloadAsync(record.Cid, Ct);
        Assert.Equal(0, (await index.FindByCidAsync(record.Cid, Ct))!.Downloads);
        Assert.True(await index.TryCountDownloadAsync(record.Cid, 1, Ct));
    }

    [Fact]
    public async Task TryCountDownload_WithoutALimit_CountsEachDownload()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow());
        await index.AddAsync(record, Ct);

        for (var i = 0; i < 5; i++)
        {
            Assert.True(await index.TryCountDownloadAsync(record.Cid, null, Ct));
        }

        Assert.Equal(5, (await index.FindByCidAsync(record.Cid, Ct))!.Downloads);
    }

    [Fact]
    public async Task TryCountDownload_RefusesShreddedExpiredOrphanedAndUnknown()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var revoked = TestRecords.New(now);
        var expiring = TestRecords.New(now, lifetime: TimeSpan.FromHours(1));
        var orphan = TestRecords.New(now, state: StoreState.Orphaned);
        await index.AddBatchAsync([revoked, expiring, orphan], Ct);
        await index.RevokeAsync(revoked.Cid, RevocationReasons.RevokedByAdmin, now, Ct);
        Assert.True(await index.TryCountDownloadAsync(expiring.Cid, null, Ct));

        Time.Advance(TimeSpan.FromHours(1));

        Assert.False(await index.TryCountDownloadAsync(revoked.Cid, null, Ct));
        Assert.False(await index.TryCountDownloadAsync(expiring.Cid, null, Ct));
        Assert.False(await index.TryCountDownloadAsync(orphan.Cid, null, Ct));
        Assert.False(await index.TryCountDownloadAsync(TestRecords.NewCid(), null, Ct));
        Assert.Equal(0, (await index.FindByCidAsync(revoked.Cid, Ct))!.Downloads);
        Assert.Equal(1, (await index.FindByCidAsync(expiring.Cid, Ct))!.Downloads);
        Assert.Equal(0, (await index.FindByCidAsync(orphan.Cid, Ct))!.Downloads);
    }

    // ---- economy ----

    [Fact]
    public async Task Economy_OfAnEmptyIndex_IsAllZero()
    {
        var index = await OpenMigratedAsync();

        var economy = await index.GetEconomyAsync(Ct);

        Assert.Equal(new StorageEconomy(), economy);
        Assert.Equal(0, economy.Ratio);
        Assert.Equal(0, economy.LiveRatio);
    }

    [Fact]
    public async Task Economy_CountsStoredOnceAgainstACopyPerRecipient()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var m1 = TestRecords.NewMessageId();
        await index.AddBatchAsync(
        [
            TestRecords.New(now, m1, plaintextSize: 1000, ciphertextSize: 1100, recipients: 3),
            TestRecords.New(now, m1, plaintextSize: 500, ciphertextSize: 600, recipients: 3),
        ], Ct);
        var revoked = TestRecords.New(now, plaintextSize: 2000, ciphertextSize: 2100, recipients: 10);
        await index.AddAsync(revoked, Ct);
        await index.RevokeAsync(revoked.Cid, RevocationReasons.RevokedByAdmin, now, Ct);
        await index.AddAsync(TestRecords.New(now.AddDays(-2), plaintextSize: 300, ciphertextSize: 400, recipients: 2, lifetime: TimeSpan.FromDays(1)), Ct);
        await index.AddAsync(TestRecords.New(now, plaintextSize: 9999, ciphertextSize: 9999, recipients: 5, state: StoreState.Orphaned), Ct);
        await index.AddAsync(TestRecords.New(now, plaintextSize: 7777, ciphertextSize: 7777, recipients: 5, state: StoreState.Spooled), Ct);

        var economy = await index.GetEconomyAsync(Ct);

        Assert.Equal(new StorageEconomy
        {
            Messages = 3,
            Attachments = 4,
            StoredBytes = 1100 + 600 + 2100 + 400,
            MailboxBytes = (1000 * 3) + (500 * 3) + (2000 * 10) + (300 * 2),
            LiveMessages = 1,
            LiveAttachments = 2,
            LiveStoredBytes = 1100 + 600,
            LiveMailboxBytes = (1000 * 3) + (500 * 3),
            ShreddedAttachments = 1,
            OrphanedAttachments = 1,
            SpooledAttachments = 1,
        }, economy);
        Assert.Equal(4500.0 / 1700, economy.LiveRatio, 9);
        Assert.Equal(25100.0 / 4200, economy.Ratio, 9);
    }

    // ---- store state and orphans ----

    [Fact]
    public async Task Mark_SetsTheStateOfAWholeMessageInOneCallAndCountsOnlyUnshreddedRecords()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var message = Enumerable.Range(0, 300).Select(_ => TestRecords.New(now, state: StoreState.Spooled)).ToList();
        var shredded = TestRecords.New(now, state: StoreState.Spooled);
        var bystander = TestRecords.New(now, state: StoreState.Spooled);
        await index.AddBatchAsync([.. message, shredded, bystander], Ct);
        await index.RevokeAsync(shredded.Cid, RevocationReasons.Orphaned, now, Ct);
        string[] cids = [.. message.Select(r => r.Cid), shredded.Cid, TestRecords.NewCid()];

        Assert.Equal(message.Count, await index.MarkAsync(cids, StoreState.Stored, Ct));

        foreach (var record in message)
        {
            Assert.Equal(StoreState.Stored, (await index.FindByCidAsync(record.Cid, Ct))!.StoreState);
        }

        Assert.Equal(StoreState.Spooled, (await index.FindByCidAsync(shredded.Cid, Ct))!.StoreState);
        Assert.Equal(StoreState.Spooled, (await index.FindByCidAsync(bystander.Cid, Ct))!.StoreState);
        Assert.Equal(0, await index.MarkAsync([], StoreState.Orphaned, Ct));
    }

    [Fact]
    public async Task SetWarning_IsReadBackAndRejectsAnUnknownCid()
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow());
        await index.AddAsync(record, Ct);
        Assert.Null((await index.FindByCidAsync(record.Cid, Ct))!.Warning);

        await index.SetWarningAsync(record.Cid, "infected: Eicar-Test-Signature", Ct);

        Assert.Equal("infected: Eicar-Test-Signature", (await index.FindByCidAsync(record.Cid, Ct))!.Warning);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => index.SetWarningAsync(TestRecords.NewCid(), "infected: x", Ct));
    }

    [Fact]
    public async Task ShredOrphans_TakesOldOrphanedAndSpooledRecordsButNeverCommittedOnes()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var old = now.AddHours(-2);
        var refused = TestRecords.New(old, state: StoreState.Spooled);
        var crashed = TestRecords.New(old, state: StoreState.Spooled);
        var committed = TestRecords.New(old, state: StoreState.Spooled);
        var collected = TestRecords.New(old, state: StoreState.Orphaned);
        var recent = TestRecords.New(now.AddMinutes(-1), state: StoreState.Orphaned);
        await index.AddBatchAsync([refused, crashed, committed, collected, recent], Ct);
        Assert.Equal(1, await index.MarkAsync([refused.Cid], StoreState.Orphaned, Ct));
        Assert.Equal(1, await index.MarkAsync([committed.Cid], StoreState.Stored, Ct));
        await index.RevokeAsync(collected.Cid, RevocationReasons.Orphaned, old, Ct);

        var shredded = await index.ShredOrphansAsync(now.AddHours(-1), now, Ct);

        Assert.Equal([refused.Cid, crashed.Cid], shredded.Select(r => r.Cid));
        Assert.All(shredded, r =>
        {
            Assert.Null(r.VaultKey);
            Assert.Equal(RevocationReasons.Orphaned, r.RevokedReason);
            Assert.Equal(now, r.RevokedAt);
        });
        Assert.Null(await RawVaultKeyAsync(crashed.Cid));
        Assert.Equal(committed.VaultKey, await RawVaultKeyAsync(committed.Cid));
        Assert.Equal(old, (await index.FindByCidAsync(collected.Cid, Ct))!.RevokedAt);
        Assert.Empty(await index.ShredOrphansAsync(now.AddHours(-1), now, Ct));
        Assert.Equal([recent.Cid], (await index.ShredOrphansAsync(now, now, Ct)).Select(r => r.Cid));
    }

    /// <summary>
    /// A message committing while a sweep (this instance or another) collects old spooled records: per record, exactly
    /// one wins. Whatever the sweep shredded, the commit did not count; whatever the commit counted is untouched.
    /// </summary>
    [Fact]
    public async Task ShredOrphans_RacingACommit_NeverShredsWhatTheCommitCounted()
    {
        var first = await OpenMigratedAsync();
        var second = Open();
        var now = Time.GetUtcNow();
        for (var round = 0; round < 5; round++)
        {
            var message = Enumerable.Range(0, 50).Select(_ => TestRecords.New(now.AddHours(-2), state: StoreState.Spooled)).ToList();
            await first.AddBatchAsync(message, Ct);

            var commit = Task.Run(() => first.MarkAsync(message.Select(r => r.Cid).ToArray(), StoreState.Stored, Ct), Ct);
            var sweep = Task.Run(() => second.ShredOrphansAsync(now.AddHours(-1), now, Ct), Ct);
            var (marked, shredded) = (await commit, await sweep);

            Assert.Equal(message.Count, marked + shredded.Count);
            foreach (var record in message)
            {
                var stored = (await first.FindByCidAsync(record.Cid, Ct))!;
                Assert.Equal(stored.IsShredded, shredded.Any(r => r.Cid == record.Cid));
                Assert.Equal(!stored.IsShredded, stored.StoreState == StoreState.Stored);
            }
        }
    }

    // ---- listing ----

    [Fact]
    public async Task List_PagesThroughEverythingOnceInBothOrders()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var ids = new List<long>();
        for (var m = 0; m < 5; m++)
        {
            var messageId = TestRecords.NewMessageId();
            ids.AddRange(await index.AddBatchAsync(Enumerable.Range(0, 5).Select(_ => TestRecords.New(now, messageId)).ToList(), Ct));
        }

        var ascending = await PageAllAsync(index, new IndexQuery { Limit = 10 });
        var descending = await PageAllAsync(index, new IndexQuery { Limit = 10, NewestFirst = true });

        Assert.Equal([10, 10, 5], ascending.Select(p => p.Count));
        Assert.Equal(ids, ascending.SelectMany(p => p).Select(r => r.Id));
        Assert.Equal(Enumerable.Reverse(ids), descending.SelectMany(p => p).Select(r => r.Id));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => index.ListAsync(new IndexQuery { Limit = 0 }, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => index.ListAsync(new IndexQuery { Limit = IndexQuery.MaxLimit + 1 }, Ct));
    }

    [Fact]
    public async Task List_FiltersByStatusMessageAndState()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var messageId = TestRecords.NewMessageId();
        var active = TestRecords.New(now, messageId);
        var revoked = TestRecords.New(now, messageId);
        var swept = TestRecords.New(now.AddDays(-2), lifetime: TimeSpan.FromDays(1));
        var unswept = TestRecords.New(now.AddDays(-2), lifetime: TimeSpan.FromDays(1), state: StoreState.Spooled);
        await index.AddBatchAsync([active, revoked, swept], Ct);
        await index.ExpireAsync(now, Ct);
        await index.AddAsync(unswept, Ct);
        await index.RevokeAsync(revoked.Cid, RevocationReasons.RevokedByAdmin, now, Ct);

        async Task<string[]> Cids(IndexQuery q) => [.. (await index.ListAsync(q, Ct)).Select(r => r.Cid)];

        Assert.Equal([active.Cid], await Cids(new IndexQuery { Status = AttachmentStatus.Active }));
        Assert.Equal([revoked.Cid], await Cids(new IndexQuery { Status = AttachmentStatus.Revoked }));
        Assert.Equal([swept.Cid, unswept.Cid], await Cids(new IndexQuery { Status = AttachmentStatus.Expired }));
        Assert.Equal([active.Cid, revoked.Cid, swept.Cid, unswept.Cid], await Cids(new IndexQuery()));
        Assert.Equal([active.Cid, revoked.Cid], await Cids(new IndexQuery { MessageId = messageId }));
        Assert.Equal([revoked.Cid], await Cids(new IndexQuery { MessageId = messageId, Status = AttachmentStatus.Revoked }));
        Assert.Equal([unswept.Cid], await Cids(new IndexQuery { StoreState = StoreState.Spooled }));
    }

    private static async Task<List<IReadOnlyList<AttachmentRecord>>> PageAllAsync(IAttachmentIndex index, IndexQuery query)
    {
        var pages = new List<IReadOnlyList<AttachmentRecord>>();
        while (true)
        {
            var page = await index.ListAsync(query, Ct);
            if (page.Count == 0)
            {
                return pages;
            }

            pages.Add(page);
            query = query with { AfterId = page[^1].Id };
        }
    }

    // ---- readiness ----

    [Fact]
    public async Task Ping_IsTrueOnceMigrated()
    {
        var index = await OpenMigratedAsync();
        Assert.True(await index.PingAsync(Ct));
    }
}
