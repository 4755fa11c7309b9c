using Detach.Vault.Index;

namespace Detach.Vault.Tests.Index;

/// <summary>The sender-notice queue (<see cref="ISenderNoticeQueue"/>): "first" decided once across instances, leases, the address kept no longer than needed.</summary>
public abstract partial class AttachmentIndexContract
{
    private const string Sender = "ann@example.org";

    private async Task<(IAttachmentIndex Index, ISenderNoticeQueue Queue, AttachmentRecord Record)> AddNotifiedAsync(string? notifyAddress = Sender)
    {
        var index = await OpenMigratedAsync();
        var record = TestRecords.New(Time.GetUtcNow()) with { NotifyAddress = notifyAddress };
        await index.AddAsync(record, Ct);
        return (index, (ISenderNoticeQueue)index, record);
    }

    private Task<List<object?>> RawNotifyAddressAsync(string cid) =>
        RawColumnAsync("SELECT notify_address FROM attachments WHERE cid = @cid", cid);

    private Task<List<object?>> RawNoticeRecipientsAsync() =>
        RawColumnAsync("SELECT recipient FROM sender_notices ORDER BY id");

    [Fact]
    public async Task NotifyAddress_IsStoredOnlyWhenGiven()
    {
        var (index, _, notified) = await AddNotifiedAsync();
        var silent = TestRecords.New(Time.GetUtcNow());
        await index.AddAsync(silent, Ct);

        Assert.Equal(Sender, (await index.FindByCidAsync(notified.Cid, Ct))!.NotifyAddress);
        Assert.Null((await index.FindByCidAsync(silent.Cid, Ct))!.NotifyAddress);
        Assert.Equal([null], await RawNotifyAddressAsync(silent.Cid));
        Assert.DoesNotContain(Sender, notified.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueueFirstDownloadNotice_QueuesOnce_AndMovesTheAddressOffTheRecord()
    {
        var (index, queue, record) = await AddNotifiedAsync();
        var downloaded = Time.GetUtcNow().AddMinutes(5);

        Assert.True(await queue.QueueFirstDownloadNoticeAsync(record.Cid, downloaded, Ct));
        Assert.False(await queue.QueueFirstDownloadNoticeAsync(record.Cid, downloaded.AddMinutes(1), Ct));

        Assert.Null((await index.FindByCidAsync(record.Cid, Ct))!.NotifyAddress);
        Assert.Equal([null], await RawNotifyAddressAsync(record.Cid));
        var notice = Assert.Single(await queue.LeaseDueNoticesAsync(downloaded, downloaded.AddMinutes(5), 10, Ct));
        Assert.Equal((record.Cid, Sender, record.FileName, record.MessageId, downloaded, 1),
            (notice.Cid, notice.Recipient, notice.FileName, notice.MessageId, notice.DownloadedAt, notice.Attempts));
    }

    [Fact]
    public async Task QueueFirstDownloadNotice_WithoutAnAddress_OrShredded_QueuesNothing()
    {
        var (index, queue, silent) = await AddNotifiedAsync(notifyAddress: null);
        var revoked = TestRecords.New(Time.GetUtcNow()) with { NotifyAddress = Sender };
        await index.AddAsync(revoked, Ct);
        var expired = TestRecords.New(Time.GetUtcNow(), lifetime: TimeSpan.FromMinutes(1)) with { NotifyAddress = Sender };
        await index.AddAsync(expired, Ct);

        await index.RevokeAsync(revoked.Cid, "revoked by admin", Time.GetUtcNow(), Ct);
        await index.ExpireAsync(Time.GetUtcNow().AddMinutes(2), Ct);

        // A shred takes the address with the key: nothing personal stays on a dead record.
        Assert.Equal([null], await RawNotifyAddressAsync(revoked.Cid));
        Assert.Equal([null], await RawNotifyAddressAsync(expired.Cid));
        foreach (var cid in new[] { silent.Cid, revoked.Cid, expired.Cid, TestRecords.NewCid() })
        {
            Assert.False(await queue.QueueFirstDownloadNoticeAsync(cid, Time.GetUtcNow(), Ct));
        }

        Assert.Empty(await RawNoticeRecipientsAsync());
    }

    [Fact]
    public async Task QueueFirstDownloadNotice_FromSeveralInstancesAtOnce_QueuesExactlyOne()
    {
        var (_, _, record) = await AddNotifiedAsync();
        var queues = Enumerable.Range(0, 6).Select(_ => (ISenderNoticeQueue)Open()).ToList();
        using var start = new ManualResetEventSlim();

        var claims = queues.Select(q => Task.Run(async () =>
        {
            start.Wait(Ct);
            return await q.QueueFirstDownloadNoticeAsync(record.Cid, Time.GetUtcNow(), Ct);
        }, Ct)).ToList();
        start.Set();
        var won = await Task.WhenAll(claims);

        Assert.Equal(1, won.Count(w => w));
        Assert.Equal([Sender], await RawNoticeRecipientsAsync());
    }

    [Fact]
    public async Task LeaseDueNotices_HidesLeasedNotices_UntilTheLeaseRunsOut()
    {
        var (_, queue, record) = await AddNotifiedAsync();
        var now = Time.GetUtcNow();
        await queue.QueueFirstDownloadNoticeAsync(record.Cid, now, Ct);

        var first = Assert.Single(await queue.LeaseDueNoticesAsync(now, now.AddMinutes(5), 10, Ct));
        Assert.Empty(await queue.LeaseDueNoticesAsync(now.AddMinutes(4), now.AddMinutes(9), 10, Ct));

        // The sender died without a word: past its lease the notice is due again, one attempt more.
        var again = Assert.Single(await queue.LeaseDueNoticesAsync(now.AddMinutes(5), now.AddMinutes(10), 10, Ct));
        Assert.Equal((first.Id, 1, 2), (again.Id, first.Attempts, again.Attempts));
    }

    [Fact]
    public async Task LeaseDueNotices_FromSeveralInstancesAtOnce_LeasesEachNoticeOnce()
    {
        var index = await OpenMigratedAsync();
        var queue = (ISenderNoticeQueue)index;
        var now = Time.GetUtcNow();
        for (var i = 0; i < 30; i++)
        {
            var record = TestRecords.New(now) with { NotifyAddress = $"sender{i}@example.org" };
            await index.AddAsync(record, Ct);
            Assert.True(await queue.QueueFirstDownloadNoticeAsync(record.Cid, now, Ct));
        }

        var queues = Enumerable.Range(0, 4).Select(_ => (ISenderNoticeQueue)Open()).ToList();
        var leased = await Task.WhenAll(queues.Select(q => Task.Run(async () =>
        {
            var mine = new List<SenderNotice>();
            IReadOnlyList<SenderNotice> batch;
            while ((batch = await q.LeaseDueNoticesAsync(now, now.AddMinutes(5), 3, Ct)).Count > 0)
            {
                mine.AddRange(batch);
            }

            return mine;
        }, Ct)));

        var all = leased.SelectMany(l => l).ToList();
        Assert.Equal(30, all.Count);
        Assert.Equal(30, all.Select(n => n.Id).Distinct().Count());
        Assert.All(all, n => Assert.Equal(1, n.Attempts));
    }

    [Fact]
    public async Task RemoveAndPostpone_DropTheAddress_OrDelayTheNotice()
    {
        var index = await OpenMigratedAsync();
        var queue = (ISenderNoticeQueue)index;
        var now = Time.GetUtcNow();
        var (sent, deferred) = (TestRecords.New(now) with { NotifyAddress = "sent@example.org" }, TestRecords.New(now) with { NotifyAddress = Sender });
        await index.AddBatchAsync([sent, deferred], Ct);
        await queue.QueueFirstDownloadNoticeAsync(sent.Cid, now, Ct);
        await queue.QueueFirstDownloadNoticeAsync(deferred.Cid, now, Ct);
        var leased = await queue.LeaseDueNoticesAsync(now, now.AddMinutes(5), 10, Ct);

        await queue.RemoveNoticeAsync(leased.Single(n => n.Cid == sent.Cid).Id, Ct);
        await queue.PostponeNoticeAsync(leased.Single(n => n.Cid == deferred.Cid).Id, now.AddMinutes(1), "451 4.3.0 " + new string('x', 1000), Ct);

        Assert.Equal([Sender], await RawNoticeRecipientsAsync());
        Assert.Equal(500, ((string)Assert.Single(await RawColumnAsync("SELECT last_error FROM sender_notices"))!).Length);
        Assert.Empty(await queue.LeaseDueNoticesAsync(now.AddSeconds(59), now.AddMinutes(6), 10, Ct));
        Assert.Equal(deferred.Cid, Assert.Single(await queue.LeaseDueNoticesAsync(now.AddMinutes(1), now.AddMinutes(6), 10, Ct)).Cid);
    }

    [Fact]
    public async Task Migrate_FromTheFirstSchema_KeepsRecordsAndAddsTheQueue()
    {
        var index = await OpenMigratedAsync();
        var old = TestRecords.New(Time.GetUtcNow());
        await index.AddAsync(old, Ct);

        // Back to schema 1 as an earlier build left it, with a record in it.
        await using (var connection = await OpenRawConnectionAsync())
        {
            foreach (var sql in new[] { "DROP TABLE sender_notices", "ALTER TABLE attachments DROP COLUMN notify_address", "ALTER TABLE attachments DROP COLUMN warning", "DELETE FROM schema_version WHERE version >= 2" })
            {
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                await command.ExecuteNonQueryAsync(Ct);
            }
        }

        var upgraded = Open();
        await upgraded.MigrateAsync(Ct);

        var found = await upgraded.FindByCidAsync(old.Cid, Ct);
        Assert.Equivalent(old with { Id = found!.Id }, found, strict: true);
        Assert.Null(found.NotifyAddress);
        Assert.False(await ((ISenderNoticeQueue)upgraded).QueueFirstDownloadNoticeAsync(old.Cid, Time.GetUtcNow(), Ct));
        var added = TestRecords.New(Time.GetUtcNow()) with { NotifyAddress = Sender };
        await upgraded.AddAsync(added, Ct);
        Assert.True(await ((ISenderNoticeQueue)upgraded).QueueFirstDownloadNoticeAsync(added.Cid, Time.GetUtcNow(), Ct));
    }
}
