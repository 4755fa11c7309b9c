using System.Net;
using Detach.Gateway.Hosting;
using Detach.Gateway.Http;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Gateway.Tests.Serve;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// `detach serve` with its data folder full: the gateway's token secret is made at start, and nothing on the download
/// path writes to disk, so links keep working while mail that cannot be stored is deferred.
/// </summary>
public class FullDiskTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;


    [Fact]
    public async Task DownloadsGoOnWhenTheDataFolderIsFull()
    {
        using var data = FillableDataFolder.Create();
        var port = FreePort.Next();
        var settings = Detach.Gateway.Configuration.DetachSettings.Load(Detach.Gateway.Configuration.DetachConfiguration.Build(null,
            [$"DataPath={data.Path}", $"PublicUrl=http://127.0.0.1:{port}", $"Gateway:Listen=http://127.0.0.1:{port}", "Smtp:Listen=127.0.0.1:0"]));
        await using var app = await DetachHost.BuildAsync(settings, Ct);
        var secretMadeAtStart = File.Exists(Path.Combine(data.Path, GatewaySecret.FileName));
        await app.StartAsync(Ct);
        var attachment = DataFolder.RandomBytes(150_000, 41);
        await using (var smtp = await RawSmtpClient.ConnectAsync((IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single()))
        {
            await smtp.CommandAsync("EHLO client.example.test");
            await smtp.CommandAsync("MAIL FROM:<ann@example.com>");
            await smtp.CommandAsync("RCPT TO:<you@example.test>");
            await smtp.CommandAsync("DATA");
            Assert.Equal(250, (await smtp.SendDataAsync(DataFolder.MessageWith(attachment))).Code);
        }

        var delivered = Assert.Single(Directory.GetFiles(Path.Combine(data.Path, "maildir", "new")));
        var link = Assert.Single(DataFolder.Links(await File.ReadAllTextAsync(delivered, Ct)));
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        var (page, key) = (link[..hash], link[(hash + 1)..]);

        data.Fill();

        // curl's way: the key in a header.
        using var http = new HttpClient(new HttpClientHandler { UseCookies = true, CookieContainer = new CookieContainer() });
        using (var request = new HttpRequestMessage(HttpMethod.Get, page + "/file"))
        {
            request.Headers.Add(LinkKeyHeader.Name, key);
            using var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await response.Content.ReadAsByteArrayAsync(Ct)));
        }

        // The browser's way: the metadata call seals a token under the secret, the cookie then downloads.
        using (var meta = new HttpRequestMessage(HttpMethod.Post, page + "/meta"))
        {
            meta.Headers.Add(LinkKeyHeader.Name, key);
            using var response = await http.SendAsync(meta, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await http.GetByteArrayAsync(page + "/file", Ct)));
        Assert.True(secretMadeAtStart, "the token secret was not made at start");
        await app.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task AStartThatCannotMakeTheSecretFailsWithTheConfigurationExitCode()
    {
        using var data = new DataFolder();
        var dataPath = Path.Combine(data.Path, "data");
        Directory.CreateDirectory(Path.Combine(dataPath, GatewaySecret.FileName)); // a folder where the file must go
        var port = FreePort.Next();
        await using var process = ChildProcess.Start(
            "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "detach.dll"), "serve", "--set", "Smtp:Listen=127.0.0.1:0"],
            data.Path,
            new Dictionary<string, string> { ["DETACH__DataPath"] = dataPath, ["DETACH__Gateway__Listen"] = $"http://127.0.0.1:{port}" });
        using var http = new HttpClient();
        while (!process.HasExited)
        {
            try
            {
                using var health = await http.GetAsync($"http://127.0.0.1:{port}/healthz", Ct);
                Assert.Fail("detach serve started although it cannot make its token secret");
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100, Ct);
            }
        }

        var result = await process.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(78, result.ExitCode);
        Assert.Contains(Path.Combine(dataPath, GatewaySecret.FileName), result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError + result.StandardOutput, StringComparison.Ordinal);
    }
}
