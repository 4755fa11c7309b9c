using Detach.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// The whole path a recipient sees: a mail sent through Postfix and detach lands in a Maildir; a real browser
/// (Debian's chromium, headless) opens the link taken from that mail, clicks Download and saves the original file.
/// </summary>
public sealed class BrowserThroughProxyTests(ProxyDeliverySetup setup) : IClassFixture<ProxyDeliverySetup>, IDisposable
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-browser-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task A_link_from_a_delivered_mail_downloads_the_original_in_a_browser()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        if (!File.Exists(ChromiumPath))
        {
            Assert.Skip($"{ChromiumPath} is not installed (apt-get install chromium): this test drives Debian's chromium.");
        }

        var proxy = await setup.GetAsync(Token);
        var file = TestFiles.WriteRandom(_scratch.FullName, "Jahresbericht 2026.pdf", 2 * 1024 * 1024 + 77);
        var messageId = TestFiles.NewMessageId("browser");
        var sent = await proxy.Swaks().To(PostfixInstance.Address("bob")).Header("Message-Id", messageId).Header("Subject", "the report")
            .Body("Attached.").Attach(file, "application/pdf").RunAsync(Token);
        Assert.True(sent.ExitCode == 0, sent.Transcript);
        var mail = Assert.Single(await proxy.WaitForCopiesAsync("bob", messageId, Token));
        var link = Assert.Single(mail.Links);
        var key = link[(link.IndexOf('#', StringComparison.Ordinal) + 1)..];

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { AcceptDownloads = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync(link);
        var button = page.Locator("#download");
        await button.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });
        Assert.Equal("Jahresbericht 2026.pdf", await page.Locator("#name").TextContentAsync());
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "through-proxy-ready.png"), FullPage = true });

        var download = await page.RunAndWaitForDownloadAsync(() => button.ClickAsync(), new PageRunAndWaitForDownloadOptions { Timeout = 60_000 });
        var saved = Path.Combine(_scratch.FullName, "saved-" + download.SuggestedFilename);
        await download.SaveAsAsync(saved);
        Assert.Null(await download.FailureAsync());
        Assert.Equal("Jahresbericht 2026.pdf", download.SuggestedFilename);
        Assert.Equal(TestFiles.Sha256(file), TestFiles.Sha256(saved));

        // The key reached the server only in a header or a POST body: no log line of the whole run carries it.
        Assert.DoesNotContain(proxy.Detach.Logs, line => line.Contains(key, StringComparison.Ordinal));
        Assert.DoesNotContain(key, await File.ReadAllTextAsync(proxy.Postfix.LogFile, Token), StringComparison.Ordinal);
    }
}
