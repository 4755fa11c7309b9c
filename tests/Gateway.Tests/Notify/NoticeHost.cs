using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Notify;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MimeKit;

namespace Detach.Gateway.Tests.Notify;

/// <summary>
/// `detach serve` in-process on free ports over a data folder, for following a notice from the download to the mail
/// it becomes. Files are stored as `detach filter -f SENDER` stores them; without a next hop, notices land in the
/// folder's Maildir like any other mail.
/// </summary>
public sealed class NoticeHost : IAsyncDisposable
{
    private readonly WebApplication app;

    private NoticeHost(WebApplication app, DetachSettings settings, int port)
    {
        this.app = app;
        Settings = settings;
        BaseUrl = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    public DetachSettings Settings { get; }

    public string BaseUrl { get; }

    public string DataPath => Settings.Root.FullDataPath;

    public SenderNoticeService Sender => app.Services.GetServices<IHostedService>().OfType<SenderNoticeService>().Single();

    public static async Task<NoticeHost> StartAsync(string dataPath, params string[] settings)
    {
        var port = ServeProcess.FreePort();
        var loaded = DetachSettings.Load(DetachConfiguration.Build(null, [
            $"DataPath={dataPath}", $"PublicUrl=http://127.0.0.1:{port}", $"Gateway:Listen=http://127.0.0.1:{port}", "Smtp:Listen=127.0.0.1:0", .. settings]));
        var app = await DetachHost.BuildAsync(loaded, TestContext.Current.CancellationToken);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new NoticeHost(app, loaded, port);
    }

    /// <summary>Stores <paramref name="attachment"/> from <paramref name="sender"/> as `detach filter` does; returns the link.</summary>
    public async Task<string> StoreAsync(string sender, byte[] attachment, string fileName = "report.pdf", string? messageId = null)
    {
        var output = new MemoryStream();
        var error = new StringWriter();
        var exit = await FilterCommand.RunAsync(Settings, new MemoryStream(DataFolder.MessageWith(attachment, fileName, messageId ?? $"<{Guid.NewGuid():N}@example.com>")),
            output, [], new MessageEnvelope(sender, 1), error, TestContext.Current.CancellationToken);
        Assert.True(exit == ExitCodes.Ok, error.ToString());
        // As a mail client reads it: a notice in another language may be quoted-printable, with soft breaks inside links.
        output.Position = 0;
        var message = await MimeKit.MimeMessage.LoadAsync(output, TestContext.Current.CancellationToken);
        return Assert.Single(DataFolder.Links(string.Concat(message.BodyParts.OfType<MimeKit.TextPart>().Select(p => p.Text))));
    }

    /// <summary>GETs the file as curl or `detach fetch` would (key in X-Detach-Key), optionally a range.</summary>
    public static async Task<byte[]> DownloadAsync(string link, string? via = null, RangeHeaderValue? range = null)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        var url = link[..hash] + "/file";
        if (via is not null)
        {
            url = via + url[url.IndexOf("/d/", StringComparison.Ordinal)..];
        }

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("X-Detach-Key", link[(hash + 1)..]);
        request.Headers.Range = range;
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode} for {url}");
        return await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The notices in <paramref name="dataPath"/>'s Maildir (mail marked Auto-Submitted), parsed.</summary>
    public static IReadOnlyList<MimeMessage> Notices(string dataPath)
    {
        var folder = Path.Combine(dataPath, "maildir", "new");
        return !Directory.Exists(folder)
            ? []
            : Directory.GetFiles(folder).Select(f => MimeMessage.Load(f)).Where(m => m.Headers["Auto-Submitted"] == "auto-generated").ToList();
    }

    /// <summary>Waits (up to a minute) until <paramref name="dataPath"/>'s Maildir holds <paramref name="count"/> notices.</summary>
    public static async Task<IReadOnlyList<MimeMessage>> WaitForNoticesAsync(string dataPath, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var notices = Notices(dataPath);
            if (notices.Count >= count || DateTime.UtcNow > deadline)
            {
                return notices;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
    }
}
