using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>/metrics after real mail went through Postfix and detach: the counters say what was sent.</summary>
[Collection(SerialProxyCollection.Name)]
public sealed class MetricsTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-metrics-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task Counters_match_the_messages_attachments_and_recipients_sent()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var proxy = await PostfixWithDetach.StartAsync(Token);
        var before = await proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Equal(0, before.Value("detach_messages_processed_total"));

        // (attachment sizes, recipients) per message
        (int[] Sizes, string[] To)[] messages =
        [
            ([300 * 1024, 50 * 1024], ["alice", "bob", "carol"]),
            ([], ["alice"]),
            ([1024 * 1024], ["bob", "carol"]),
            ([2 * 1024], ["carol"]), // under Policy:MinSizeBytes (4 KiB): stays in the mail
        ];
        var index = 0;
        foreach (var (sizes, to) in messages)
        {
            var messageId = TestFiles.NewMessageId($"metrics{index}");
            var swaks = proxy.Swaks().To([.. to.Select(PostfixInstance.Address)]).Header("Message-Id", messageId);
            foreach (var size in sizes)
            {
                swaks.Attach(TestFiles.WriteRandom(_scratch.FullName, $"m{index}-{size}.bin", size));
            }

            var result = await swaks.RunAsync(Token);
            Assert.True(result.ExitCode == 0, result.ToString());
            foreach (var mailbox in to)
            {
                Assert.Single(await proxy.WaitForCopiesAsync(mailbox, messageId, Token));
            }

            index++;
        }

        var detached = messages.SelectMany(m => m.Sizes.Where(s => s >= 4096).Select(s => (Size: (long)s, Recipients: m.To.Length))).ToArray();
        var metrics = await proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Equal(messages.Length, metrics.Value("detach_messages_processed_total"));
        Assert.Equal(detached.Length, metrics.Value("detach_attachments_detached_total"));
        Assert.Equal(detached.Sum(d => d.Size), metrics.Value("detach_detached_bytes_total"));
        Assert.Equal(detached.Sum(d => d.Size * (d.Recipients - 1)), metrics.Value("detach_saved_bytes_total"));
        Assert.Equal(0, metrics.Value("detach_messages_tempfailed_total"));
        Assert.Equal(0, metrics.Value("detach_messages_rejected_total"));
        Assert.Equal(detached.Length, metrics.Value("detach_store_duration_seconds_count"));
        Assert.Equal(detached.Length, metrics.Samples.Single(s => s.Name == "detach_store_duration_seconds_bucket" && s.Labels == "le=\"+Inf\"").Value);
    }

    /// <summary>
    /// Two detach hosts in one process (tests, or any embedding) must not report each other's mail: the exporter
    /// should read its own host's meter, not every meter named "Detach".
    /// </summary>
    [Fact]
    public async Task A_host_does_not_count_mail_that_went_through_another_host_in_the_same_process()
    {
        await using var quiet = await DetachServer.StartAsync([], Token);
        await using var busy = await DetachServer.StartAsync([], Token);

        await using (var client = await RawSmtpClient.ConnectAsync(busy.SmtpPort))
        {
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<a@example.test>");
            await client.CommandAsync("RCPT TO:<b@example.test>");
            await client.CommandAsync("DATA");
            Assert.Equal(250, (await client.CommandAsync("Subject: hi\r\n\r\nhello\r\n.")).Code);
        }

        Assert.Equal(1, (await busy.ScrapeMetricsAsync(Token)).Value("detach_messages_processed_total"));
        Assert.Equal(0, (await quiet.ScrapeMetricsAsync(Token)).Value("detach_messages_processed_total"));
    }
}
