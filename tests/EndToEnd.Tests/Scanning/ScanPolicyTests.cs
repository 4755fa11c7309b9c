using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Microsoft.Playwright;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>The other policies through the real chain: a scanner that goes away, Strip, Deliver.</summary>
public sealed class ScanPolicyTests
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_clamd_stopped_postfix_answers_4xx_nothing_is_queued_or_stored_and_the_retry_is_delivered_once()
    {
        await using var scanned = await ScannedProxy.StartAsync(Token);
        var file = TestFiles.WriteRandom(scanned.Scratch.FullName, "contract.pdf", 300 * 1024);
        var messageId = TestFiles.NewMessageId("scanner-down");
        Swaks Send() => scanned.Proxy.Swaks().To(PostfixInstance.Address("alice"), PostfixInstance.Address("bob")).Header("Message-Id", messageId).Attach(file);

        await scanned.Clamd.StopAsync();
        var refused = await Send().RunAsync(Token);

        var reply = Assert.Single(refused.DataReplies);
        Assert.True(reply.Code is >= 400 and < 500, refused.ToString());
        await scanned.Proxy.Postfix.WaitForLogAsync("proxy-reject: END-OF-MESSAGE: 451", PostfixWithDetach.Patience, Token);
        Assert.True(await scanned.Proxy.Postfix.QueueIsEmptyAsync(Token), "before-queue: a refused message is never queued");
        Assert.Empty(scanned.Proxy.Postfix.MessagesIn("alice"));
        Assert.Empty(scanned.Proxy.Postfix.MessagesIn("sender"));
        Assert.Empty(await scanned.StoredObjectsAsync(Token));
        Assert.Empty(await scanned.Proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        var metrics = await scanned.Proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Equal(1, metrics.Value("detach_scan_errors_total"));
        Assert.Equal(1, metrics.Value("detach_messages_tempfailed_total"));

        await scanned.Clamd.StartAgainAsync(Token);
        var retried = await Send().RunAsync(Token);

        Assert.True(retried.ExitCode == 0, retried.ToString());
        foreach (var mailbox in new[] { "alice", "bob" })
        {
            var mail = Assert.Single(await scanned.Proxy.WaitForCopiesAsync(mailbox, messageId, Token));
            Assert.Equal(TestFiles.Sha256(file), await scanned.Proxy.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        }

        Assert.Single(await scanned.StoredObjectsAsync(Token));
        Assert.Equal(1, (await scanned.Proxy.Detach.ScrapeMetricsAsync(Token)).Value("detach_scan_scanned_total"));
    }

    [Fact]
    public async Task Strip_delivers_the_message_with_a_notice_naming_the_threat_instead_of_the_infected_file_and_stores_only_the_clean_one()
    {
        await using var scanned = await ScannedProxy.StartAsync(Token, unixSocket: false, "Scan:WhenInfected=Strip");
        var clean = TestFiles.WriteRandom(scanned.Scratch.FullName, "report.pdf", 200 * 1024);
        var infected = scanned.WriteFile("invoice.pdf.exe", EicarTestFile.Padded(16 * 1024));
        var messageId = TestFiles.NewMessageId("strip");

        var result = await scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId)
            .Body("Two files.").Attach(clean).Attach(infected).RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await scanned.Proxy.WaitForCopiesAsync("alice", messageId, Token));
        Assert.Equal(TestFiles.Sha256(clean), await scanned.Proxy.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        Assert.Equal($"removed, it contains {EicarTestFile.SignatureName}", mail.Header("X-Detach-Scan"));
        Assert.Contains($"\"invoice.pdf.exe\" (16.4 kB) was removed from this message: removed, it contains {EicarTestFile.SignatureName}", mail.DecodedText, StringComparison.Ordinal);
        Assert.False(mail.ContainsBase64Of(EicarTestFile.Bytes.AsSpan(0, 48)), "the infected file's bytes are gone from the mail");
        Assert.Single(await scanned.StoredObjectsAsync(Token));
        Assert.Equal("report.pdf", Assert.Single(await scanned.Proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token)).FileName);
    }

    [Fact]
    public async Task Deliver_stores_and_links_the_infected_file_with_an_X_Detach_Scan_header_and_a_warning_on_the_download_page()
    {
        await using var scanned = await ScannedProxy.StartAsync(Token, unixSocket: false, "Scan:WhenInfected=Deliver");
        var content = EicarTestFile.Padded(16 * 1024);
        var infected = scanned.WriteFile("sample.com", content);
        var messageId = TestFiles.NewMessageId("deliver");

        var result = await scanned.Proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Attach(infected).RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await scanned.Proxy.WaitForCopiesAsync("alice", messageId, Token));
        Assert.Equal($"infected: {EicarTestFile.SignatureName}", mail.Header("X-Detach-Scan"));
        var link = Assert.Single(mail.Links);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)), await scanned.Proxy.Detach.FetchSha256Async(link, Token));
        Assert.Equal($"infected: {EicarTestFile.SignatureName}", Assert.Single(await scanned.Proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token)).Warning);

        if (!File.Exists(ChromiumPath))
        {
            Assert.Skip($"{ChromiumPath} is not installed (apt-get install chromium): the page check drives Debian's chromium.");
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(link);
        var warning = page.Locator("#warning");
        await warning.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });
        Assert.Contains(EicarTestFile.SignatureName, await warning.TextContentAsync(), StringComparison.Ordinal);
        Assert.True(await page.Locator("#download").IsVisibleAsync(), "Deliver still lets the recipient download it");
    }
}
