using System.Net.Http.Json;
using System.Text.Json;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

/// <summary>A hostile attachment name through the whole gateway: the metadata JSON and the download headers stay safe.</summary>
public class HostileNameTests
{
    private const string Hostile = "<script>alert(1)</script>\".exe\u202Etxt.\nX-Injected: yes";

    [Fact]
    public async Task HostileNameIsInertInJsonAndHeaders()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), Hostile, "text/html\r\nX-Injected: yes", senderDomain: "<b>evil</b>.example");
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        using var metaRequest = new HttpRequestMessage(HttpMethod.Post, host.PageUrl(file) + "/meta");
        metaRequest.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
        using var meta = await client.SendAsync(metaRequest, ct);
        var raw = await meta.Content.ReadAsStringAsync(ct);
        var json = JsonSerializer.Deserialize<JsonElement>(raw);

        Assert.DoesNotContain("<script", raw, StringComparison.Ordinal); // System.Text.Json escapes < and >
        Assert.DoesNotContain('\u202E', json.GetProperty("name").GetString()!);
        Assert.DoesNotContain('\n', json.GetProperty("name").GetString()!);
        Assert.Equal("application/octet-stream", json.GetProperty("type").GetString());

        using var fileRequest = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        fileRequest.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
        using var download = await client.SendAsync(fileRequest, ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, download.StatusCode);
        Assert.False(download.Headers.Contains("X-Injected"));
        Assert.False(download.Content.Headers.Contains("X-Injected"));
        Assert.Equal("application/octet-stream", download.Content.Headers.ContentType!.MediaType);
        Assert.Equal(SecurityHeaders.FilePolicy, download.Headers.GetValues("Content-Security-Policy").Single());
        var disposition = download.Content.Headers.ContentDisposition!;
        Assert.Equal("attachment", disposition.DispositionType);
        Assert.DoesNotContain('/', disposition.FileName!);
        Assert.DoesNotContain('"', disposition.FileName!.Trim('"'));
        Assert.DoesNotContain('\u202E', disposition.FileNameStar ?? "");
        Assert.DoesNotContain('\n', disposition.FileNameStar ?? "");
    }

    [Fact]
    public async Task HostileSenderDomainIsEscapedInTheGonePage()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "x.bin", expiresAt: DateTimeOffset.UtcNow.AddDays(-1), senderDomain: "<script>alert(1)</script>.example");
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        request.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
        request.Headers.Accept.ParseAdd("text/html");

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var html = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(System.Net.HttpStatusCode.Gone, response.StatusCode);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;.example", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Equal(SecurityHeaders.PagePolicy, response.Headers.GetValues("Content-Security-Policy").Single());
    }
}
