using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Debian's chromium, headless, driven by Playwright: opens the link, reads the details, clicks Download
/// and checks the saved file. Screenshots land in TestResults/screenshots beside the test assembly.
/// </summary>
public class BrowserDownloadTests
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string ScreenshotFolder = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    private static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            Assert.Skip($"{ChromiumPath} is not installed (apt-get install chromium): the browser test drives Debian's chromium.");
        }

        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
        return (playwright, browser);
    }

    private static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });
    }

    [Fact]
    public async Task BrowserOpensTheLinkAndDownloadsTheOriginalFile()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes((3 * 1024 * 1024) + 12345);
        var file = await host.StoreAsync(original, "Plans für 2027.pdf", "application/pdf", senderDomain: "sender.example");
        var (playwright, browser) = await LaunchAsync();
        using var _playwright = playwright;
        await using var _browser = browser;
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { AcceptDownloads = true });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text + " at " + message.Location);
            }
        };

        await page.GotoAsync($"{host.PageUrl(file)}#{file.LinkKey}");
        var button = page.Locator("#download");
        await button.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });

        Assert.Equal("Plans für 2027.pdf", await page.Locator("#name").TextContentAsync());
        Assert.Contains("3.2 MB", await page.Locator("#size").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal("application/pdf", await page.Locator("#type").TextContentAsync());
        Assert.Contains("sender.example", await page.Locator("#status").TextContentAsync(), StringComparison.Ordinal);
        await ScreenshotAsync(page, "download-ready");

        var download = await page.RunAndWaitForDownloadAsync(() => button.ClickAsync(), new PageRunAndWaitForDownloadOptions { Timeout = 60_000 });
        var saved = Path.Combine(host.Folder.FullName, "browser-" + download.SuggestedFilename);
        await download.SaveAsAsync(saved);

        Assert.Null(await download.FailureAsync());
        Assert.Equal("Plans für 2027.pdf", download.SuggestedFilename);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(saved));
        Assert.Empty(errors); // no CSP violation or script error
        var record = await host.CountedAsync(file, 1);
        Assert.Equal(1, record.Downloads);
        Assert.DoesNotContain(host.Logs.Lines, line => line.Contains(file.LinkKey, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("%23")]
    [InlineData("%2523")]
    public async Task ALinkWhoseHashWasPercentEncodedStillDownloads(string encodedHash)
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(200_000);
        var file = await host.StoreAsync(original, "rewritten.pdf", "application/pdf");
        var (playwright, browser) = await LaunchAsync();
        using var _playwright = playwright;
        await using var _browser = browser;
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { AcceptDownloads = true });
        var page = await context.NewPageAsync();

        // What a mail security gateway leaves of the link after rewriting it.
        await page.GotoAsync($"{host.PageUrl(file)}{encodedHash}{file.LinkKey}");
        var button = page.Locator("#download");
        await button.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });

        Assert.Equal($"{host.PageUrl(file)}#{file.LinkKey}", page.Url); // the key is back in the fragment
        Assert.Equal("rewritten.pdf", await page.Locator("#name").TextContentAsync());
        var download = await page.RunAndWaitForDownloadAsync(() => button.ClickAsync(), new PageRunAndWaitForDownloadOptions { Timeout = 60_000 });
        var saved = Path.Combine(host.Folder.FullName, "rewritten-" + download.SuggestedFilename);
        await download.SaveAsAsync(saved);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(saved));
        Assert.DoesNotContain(host.Logs.Lines, line => line.Contains(file.LinkKey[..16], StringComparison.Ordinal));
        Assert.Contains(host.Logs.Lines, line => line.Contains($"GET /d/{file.Cid}[cut] 200", StringComparison.Ordinal));
    }

    private static async Task AssertNoAxeViolationsAsync(IPage page, string state)
    {
        var result = await page.RunAxe();
        var violations = result.Violations.Select(v => $"{v.Id}: {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Html))}").ToList();
        Assert.True(violations.Count == 0, state + ":\n" + string.Join("\n", violations));
    }

    [Theory]
    [InlineData("en-US", "America/New_York", "en", "Download", "9.1 kB", "January 3, 2027", "EST", "This link does not open a file")]
    [InlineData("fr-FR", "Europe/Paris", "fr", "Télécharger", "9,1 ko", "3 janvier 2027", "UTC+1", "Ce lien n’ouvre aucun fichier")]
    public async Task ThePageSpeaksTheBrowsersLanguageWorksFromTheKeyboardAndHasNoAxeViolation(
        string locale, string timeZone, string lang, string download, string size, string date, string zone, string wrongKeyTitle)
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(9092);
        var file = await host.StoreAsync(original, "rapport.pdf", "application/pdf",
            expiresAt: new DateTimeOffset(2027, 1, 3, 15, 55, 0, TimeSpan.Zero), maxDownloads: 3, senderDomain: "sender.example");
        var (playwright, browser) = await LaunchAsync();
        using var _playwright = playwright;
        await using var _browser = browser;
        foreach (var scheme in new[] { ColorScheme.Light, ColorScheme.Dark })
        {
            var context = await browser.NewContextAsync(new BrowserNewContextOptions
            {
                AcceptDownloads = true, Locale = locale, TimezoneId = timeZone, ColorScheme = scheme,
            });
            var page = await context.NewPageAsync();

            await page.GotoAsync($"{host.PageUrl(file)}#{file.LinkKey}");
            var button = page.Locator("#download");
            await button.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });

            Assert.Equal(lang, await page.Locator("html").GetAttributeAsync("lang"));
            Assert.Equal(download, (await button.TextContentAsync())?.Trim());
            Assert.Equal(size, await page.Locator("#size").TextContentAsync());
            var expires = await page.Locator("#expires").TextContentAsync();
            Assert.Contains(date, expires, StringComparison.Ordinal);
            Assert.Contains(zone, expires, StringComparison.Ordinal);
            Assert.Matches("^[23]$", await page.Locator("#downloads").TextContentAsync()); // 3, then 2 after the light pass downloaded
            Assert.Equal("status", await page.Locator("#status").GetAttributeAsync("role"));
            await AssertNoAxeViolationsAsync(page, $"{lang} {scheme} ready");
            await ScreenshotAsync(page, $"ready-{lang}-{scheme}".ToLowerInvariant());

            // Keyboard only: the button has the focus once the file is ready, Tab comes back to it, it shows its
            // focus, and Enter downloads.
            Assert.Equal("download", await page.EvaluateAsync<string>("() => document.activeElement.id"));
            await page.Keyboard.PressAsync("Shift+Tab");
            Assert.NotEqual("download", await page.EvaluateAsync<string>("() => document.activeElement.id"));
            await page.Keyboard.PressAsync("Tab");
            Assert.Equal("download", await page.EvaluateAsync<string>("() => document.activeElement.id"));
            Assert.Equal("solid", await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle"));
            if (scheme == ColorScheme.Light)
            {
                var saved = await page.RunAndWaitForDownloadAsync(() => page.Keyboard.PressAsync("Enter"));
                Assert.Null(await saved.FailureAsync());
                Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(await saved.PathAsync()));
            }

            var refused = await context.NewPageAsync(); // a new document: only the fragment would differ
            await refused.GotoAsync($"{host.PageUrl(file)}#{Detach.Crypto.LinkKeyText.Encode(new byte[32])}");
            await refused.Locator("body[data-state=problem]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
            Assert.Equal(wrongKeyTitle, await refused.Locator("#title").TextContentAsync());
            await AssertNoAxeViolationsAsync(refused, $"{lang} {scheme} wrong key");
            await context.CloseAsync();
        }
    }

    [Fact]
    public async Task BrowserShowsWrongKeyExpiredAndIncompleteLinks()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(10_000), "notes.txt", "text/plain", senderDomain: "sender.example");
        var expired = await host.StoreAsync(TestFiles.RandomBytes(10_000), "old.txt", "text/plain",
            expiresAt: new DateTimeOffset(2026, 1, 2, 3, 4, 0, TimeSpan.Zero), senderDomain: "old-sender.example");
        var (playwright, browser) = await LaunchAsync();
        using var _playwright = playwright;
        await using var _browser = browser;
        var page = await browser.NewPageAsync();

        await page.GotoAsync($"{host.PageUrl(file)}#{Detach.Crypto.LinkKeyText.Encode(new byte[32])}");
        await page.Locator("body[data-state=problem]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Equal("This link does not open a file", await page.Locator("#title").TextContentAsync());
        Assert.False(await page.Locator("#download").IsVisibleAsync());
        await ScreenshotAsync(page, "wrong-key");

        await page.GotoAsync($"{host.PageUrl(expired)}#{expired.LinkKey}");
        await page.Locator("body[data-state=problem]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Equal("This file has expired", await page.Locator("#title").TextContentAsync());
        var detail = await page.Locator("#status").TextContentAsync();
        Assert.Contains("2026-01-02 03:04 UTC", detail, StringComparison.Ordinal);
        Assert.Contains("old-sender.example", detail, StringComparison.Ordinal);
        await ScreenshotAsync(page, "expired");

        await page.GotoAsync(host.PageUrl(file));
        await page.Locator("body[data-state=problem]").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Equal("This link is incomplete", await page.Locator("#title").TextContentAsync());
        await ScreenshotAsync(page, "no-key");
    }

    [Fact]
    public async Task HostileFileNameIsShownAsTextAndNeverRuns()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var hostile = "<script>alert(1)</script>\".exe\u202Etxt.\nsecond line<img src=x onerror=alert(2)>";
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), hostile, "text/html");
        var (playwright, browser) = await LaunchAsync();
        using var _playwright = playwright;
        await using var _browser = browser;
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { AcceptDownloads = true });
        var page = await context.NewPageAsync();
        var dialogs = 0;
        page.Dialog += async (_, dialog) =>
        {
            dialogs++;
            await dialog.DismissAsync();
        };

        await page.GotoAsync($"{host.PageUrl(file)}#{file.LinkKey}");
        await page.Locator("#download").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 30_000 });
        var shown = await page.Locator("#name").TextContentAsync();
        await ScreenshotAsync(page, "hostile-name");
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator("#download").ClickAsync());

        Assert.Equal(0, dialogs);
        Assert.Equal(0, await page.Locator("main script, main img").CountAsync());
        Assert.StartsWith("<script>alert(1)</script>", shown, StringComparison.Ordinal);
        Assert.DoesNotContain('\u202E', shown!);
        Assert.DoesNotContain('\n', shown!);
        Assert.DoesNotContain('/', download.SuggestedFilename);
        Assert.DoesNotContain('\u202E', download.SuggestedFilename);
        Assert.Null(await download.FailureAsync());
    }
}
