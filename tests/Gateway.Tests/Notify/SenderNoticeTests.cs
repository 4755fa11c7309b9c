using System.Net.Http.Headers;
using System.Text;
using Detach.Gateway.Tests.Cli;
using Detach.Vault.Tests.Index;
using Microsoft.Data.Sqlite;
using MimeKit;
using Npgsql;

namespace Detach.Gateway.Tests.Notify;

/// <summary>
/// Telling the sender, from the download to the mail: once per attachment, name and time only, through the Maildir
/// of the standalone setup, a relay that is down for a while, or two instances sharing one PostgreSQL index. And
/// when it is off, the sender's address is nowhere in the index.
/// </summary>
public sealed class SenderNoticeTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>, IDisposable
{
    private const string Ann = "ann@example.com";

    private readonly DataFolder data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        data.Dispose();
    }

    private byte[] IndexBytes() =>
        [.. Directory.GetFiles(data.Path, "index.db*").SelectMany(File.ReadAllBytes)];

    private static bool Contains(byte[] haystack, string text) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    [Fact]
    public async Task The_first_download_mails_the_sender_once_with_the_name_and_the_time_only()
    {
        await using var host = await NoticeHost.StartAsync(data.Path, "Gateway:NotifySender=true");
        var original = DataFolder.RandomBytes(200_000, 80);
        var link = await host.StoreAsync(Ann, original, "Q3 report.pdf", "<quarterly@example.com>");
        Assert.True(Contains(IndexBytes(), Ann), "with notices on, the address is kept until the first download");

        var before = DateTimeOffset.UtcNow;
        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(await NoticeHost.DownloadAsync(link)));
        var notice = Assert.Single(await NoticeHost.WaitForNoticesAsync(data.Path, 1));

        // Later downloads, whole or resumed to the end, on this or any instance: no second notice.
        await NoticeHost.DownloadAsync(link);
        await NoticeHost.DownloadAsync(link, range: new RangeHeaderValue(100_000, null));
        await host.Sender.SendDueAsync(Ct);
        Assert.Single(NoticeHost.Notices(data.Path));

        Assert.Equal(Ann, Assert.Single(notice.To.Mailboxes).Address);
        Assert.Equal("noreply@detach.localhost", Assert.Single(notice.From.Mailboxes).Address);
        Assert.Equal("Downloaded: Q3 report.pdf", notice.Subject);
        Assert.Equal("quarterly@example.com", notice.InReplyTo);
        Assert.Equal("auto-generated", notice.Headers["Auto-Submitted"]);
        var text = notice.TextBody;
        Assert.Contains("Your attachment \"Q3 report.pdf\" was downloaded for the first time on", text, StringComparison.Ordinal);
        Assert.Matches(@"on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.", text);
        Assert.InRange(notice.Date, before.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.DoesNotContain("127.0.0.1", notice.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(link.Split('#')[1], notice.ToString(), StringComparison.Ordinal);

        // Sent: the address has left the index altogether, its write-ahead log included (the host still has it open).
        Assert.False(Contains(IndexBytes(), Ann), "the sender's address stayed in the index after the notice was sent");
    }

    [Fact]
    public async Task The_notice_speaks_the_language_of_the_senders_domain()
    {
        await using var host = await NoticeHost.StartAsync(data.Path, "Gateway:NotifySender=true",
            "Policy:LanguageBySenderDomain:example.com=fr", "Policy:LanguageBySenderDomain:other.example=en+fr");
        await NoticeHost.DownloadAsync(await host.StoreAsync(Ann, DataFolder.RandomBytes(50_000, 84), "budget.pdf"));
        var french = Assert.Single(await NoticeHost.WaitForNoticesAsync(data.Path, 1));
        Assert.Equal("Téléchargé : budget.pdf", french.Subject);
        Assert.Matches(@"^Votre pièce jointe « budget\.pdf » a été téléchargée pour la première fois le \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.", french.TextBody);
        Assert.DoesNotContain("downloaded", french.TextBody, StringComparison.Ordinal);

        await NoticeHost.DownloadAsync(await host.StoreAsync("bob@other.example", DataFolder.RandomBytes(50_001, 85), "plan.pdf"));
        var both = (await NoticeHost.WaitForNoticesAsync(data.Path, 2)).Single(n => n.Subject?.Contains("plan.pdf", StringComparison.Ordinal) == true);
        Assert.Equal("Downloaded: plan.pdf / Téléchargé : plan.pdf", both.Subject);
        var body = both.TextBody ?? "";
        Assert.True(body.IndexOf("Your attachment", StringComparison.Ordinal) is >= 0 and var english && english < body.IndexOf("Votre pièce jointe", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_notices_off_the_senders_address_is_not_stored_and_nothing_is_sent()
    {
        await using var host = await NoticeHost.StartAsync(data.Path);
        var link = await host.StoreAsync(Ann, DataFolder.RandomBytes(50_000, 81));

        await NoticeHost.DownloadAsync(link);
        await host.Sender.SendDueAsync(Ct);

        SqliteConnection.ClearAllPools();
        Assert.False(Contains(IndexBytes(), Ann), "the sender's address was stored with notices off");
        Assert.Empty(NoticeHost.Notices(data.Path));
    }

    [Fact]
    public async Task The_sender_domain_decides_whose_address_is_kept()
    {
        await using var host = await NoticeHost.StartAsync(data.Path,
            "Gateway:NotifySender=false", "Gateway:NotifySenderBySenderDomain:example.com=true");
        var asked = await host.StoreAsync(Ann, DataFolder.RandomBytes(50_000, 82), "asked.pdf");
        var other = await host.StoreAsync("bob@other.example", DataFolder.RandomBytes(50_001, 83), "other.pdf");

        SqliteConnection.ClearAllPools();
        Assert.True(Contains(IndexBytes(), Ann));
        Assert.False(Contains(IndexBytes(), "bob@other.example"));
        await NoticeHost.DownloadAsync(other);
        await NoticeHost.DownloadAsync(asked);

        var notice = Assert.Single(await NoticeHost.WaitForNoticesAsync(data.Path, 1));
        Assert.Equal("Downloaded: asked.pdf", notice.Subject);
    }

    [Fact]
    public async Task A_relay_that_is_down_gets_the_notice_when_it_is_back_and_the_download_does_not_wait()
    {
        var relayPort = ServeProcess.FreePort();
        await using var host = await NoticeHost.StartAsync(data.Path,
            "Gateway:NotifySender=true", $"Notify:Relay=smtp://127.0.0.1:{relayPort}", "Notify:FirstRetrySeconds=1");
        var original = DataFolder.RandomBytes(80_000, 84);
        var link = await host.StoreAsync(Ann, original);

        Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(await NoticeHost.DownloadAsync(link)));
        await host.Sender.SendDueAsync(Ct);
        Assert.Empty(NoticeHost.Notices(data.Path));
        await WaitForAsync(async () => (await QueuedErrorsAsync()).Any(e => e.Contains("Connection refused", StringComparison.Ordinal)));

        // The relay comes up (another detach's SMTP front, delivering to its own Maildir): the retry gets through.
        using var relayData = new DataFolder();
        await using var relay = await NoticeHost.StartAsync(relayData.Path, $"Smtp:Listen=127.0.0.1:{relayPort}");
        var notice = Assert.Single(await NoticeHost.WaitForNoticesAsync(relayData.Path, 1));
        Assert.Equal(Ann, Assert.Single(notice.To.Mailboxes).Address);
        await WaitForAsync(async () => (await QueuedErrorsAsync()).Count == 0);
    }

    [Fact]
    public async Task Two_instances_sharing_a_postgresql_index_send_one_notice_however_many_download()
    {
        if (postgres.SkipReason is not null)
        {
            Assert.Skip(postgres.SkipReason);
        }

        var schema = "n_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(postgres.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            await create.ExecuteNonQueryAsync(Ct);
        }

        var index = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { SearchPath = schema }.ToString();
        string[] shared = ["Gateway:NotifySender=true", "Index:Kind=postgres", $"Index:ConnectionString={index}"];
        await using var first = await NoticeHost.StartAsync(data.Path, shared);
        await using var second = await NoticeHost.StartAsync(data.Path, shared);
        var original = DataFolder.RandomBytes(300_000, 85);
        var link = await first.StoreAsync(Ann, original);

        // Eight downloads at once, half through each instance: every one gets the file, one notice is queued.
        var downloads = Enumerable.Range(0, 8).Select(i => NoticeHost.DownloadAsync(link, via: i % 2 == 0 ? first.BaseUrl : second.BaseUrl));
        Assert.All(await Task.WhenAll(downloads), bytes => Assert.Equal(DataFolder.Sha256(original), DataFolder.Sha256(bytes)));
        Assert.Single(await NoticeHost.WaitForNoticesAsync(data.Path, 1));
        await Task.WhenAll(first.Sender.SendDueAsync(Ct), second.Sender.SendDueAsync(Ct));

        Assert.Single(NoticeHost.Notices(data.Path));
        await using var check = new NpgsqlConnection(index);
        await check.OpenAsync(Ct);
        await using var count = new NpgsqlCommand("SELECT (SELECT COUNT(*) FROM sender_notices) + (SELECT COUNT(*) FROM attachments WHERE notify_address IS NOT NULL)", check);
        Assert.Equal(0L, (long)(await count.ExecuteScalarAsync(Ct))!);
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(100, Ct);
        }
    }

    private async Task<List<string>> QueuedErrorsAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "index.db")};Pooling=false");
        await connection.OpenAsync(Ct);
        await using var command = new SqliteCommand("SELECT COALESCE(last_error, '') FROM sender_notices", connection);
        var errors = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            errors.Add(reader.GetString(0));
        }

        return errors;
    }
}
