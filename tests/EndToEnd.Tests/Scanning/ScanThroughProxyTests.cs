using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Vault.Index;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>
/// Scanning with the default policy (Scan:WhenInfected=Reject) through the real chain: swaks → Postfix's
/// before-filter smtpd → detach (scanning with the real clamd over its unix socket) → after-filter smtpd → Maildir.
/// </summary>
public sealed class ScanThroughProxyTests(ScanThroughProxyTests.Setup setup) : IClassFixture<ScanThroughProxyTests.Setup>
{
    public sealed class Setup : SharedSetup<ScannedProxy>
    {
        protected override Task<ScannedProxy> StartAsync(CancellationToken cancellationToken) =>
            ScannedProxy.StartAsync(cancellationToken, unixSocket: true);
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private async Task<ScannedProxy> StartAsync()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        PeerBinaries.RequireClamd();
        return await setup.GetAsync(Token);
    }

    /// <summary>Sends one message and checks Postfix refused it with detach's 554 naming the signature, and nothing of it stayed.</summary>
    private static async Task AssertRefusedAsync(ScannedProxy scanned, Swaks send, string messageId)
    {
        var result = await send.RunAsync(Token);

        var reply = Assert.Single(result.DataReplies);
        Assert.True(reply.Code == 554, result.ToString());
        Assert.Contains(EicarTestFile.SignatureName, reply.Text, StringComparison.Ordinal);
        await scanned.Proxy.Postfix.WaitForLogAsync("proxy-reject: END-OF-MESSAGE: 554 5.7.1", PostfixWithDetach.Patience, Token);
        Assert.True(await scanned.Proxy.Postfix.QueueIsEmptyAsync(Token), "a refused message is never queued");
        Assert.Empty(await scanned.Proxy.CopiesAsync("alice", messageId, Token));
        Assert.Empty(await scanned.Proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
    }

    [Fact]
    public async Task Eicar_attached_is_refused_with_554_5_7_1_and_nothing_is_left_in_the_store_or_the_index()
    {
        var scanned = await StartAsync();
        var before = await scanned.StoredObjectsAsync(Token);
        var messageId = TestFiles.NewMessageId("eicar");
        var file = scanned.WriteFile("invoice.pdf", EicarTestFile.Padded(16 * 1024));

        await AssertRefusedAsync(scanned, scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Attach(file), messageId);

        Assert.Equal(before, await scanned.StoredObjectsAsync(Token));
        var metrics = await scanned.Proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Contains($"detach_scan_infected_total{{signature=\"{EicarTestFile.SignatureName}\"}}", metrics.Text, StringComparison.Ordinal);
        Assert.True(metrics.Value("detach_messages_rejected_total") >= 1);
    }

    [Fact]
    public async Task Eicar_inside_a_zip_is_caught_because_clamd_unpacks_it()
    {
        var scanned = await StartAsync();
        var before = await scanned.StoredObjectsAsync(Token);
        var messageId = TestFiles.NewMessageId("eicar-zip");
        var zip = scanned.WriteFile("tools.zip", ScanSamples.ZipWithEicar());

        await AssertRefusedAsync(scanned, scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Attach(zip, "application/zip"), messageId);

        Assert.Equal(before, await scanned.StoredObjectsAsync(Token));
    }

    [Fact]
    public async Task Eicar_inside_an_attached_message_is_caught_by_scanning_the_whole_eml()
    {
        var scanned = await StartAsync();
        var before = await scanned.StoredObjectsAsync(Token);
        var messageId = TestFiles.NewMessageId("eicar-eml");
        var inner = ScanSamples.MessageWithAttachment("setup.zip", ScanSamples.ZipWithEicar(), subject: "tools");
        var forward = scanned.WriteMessageForwarding(inner, messageId);

        await AssertRefusedAsync(scanned, scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).DataFromFile(forward), messageId);

        Assert.Equal(before, await scanned.StoredObjectsAsync(Token));
    }

    [Fact]
    public async Task A_clean_attachment_is_scanned_and_detached_as_before()
    {
        var scanned = await StartAsync();
        var messageId = TestFiles.NewMessageId("clean");
        var file = TestFiles.WriteRandom(scanned.Scratch.FullName, "photos.zip", 1024 * 1024 + 5);

        var result = await scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Attach(file).RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await scanned.Proxy.WaitForCopiesAsync("alice", messageId, Token));
        Assert.Equal(TestFiles.Sha256(file), await scanned.Proxy.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        Assert.Null(mail.Header("X-Detach-Scan"));
        var record = Assert.Single(await scanned.Proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        Assert.Equal(StoreState.Stored, record.StoreState);
        Assert.Null(record.Warning);
        Assert.True((await scanned.Proxy.Detach.ScrapeMetricsAsync(Token)).Value("detach_scan_scanned_total") >= 1);
    }
}
