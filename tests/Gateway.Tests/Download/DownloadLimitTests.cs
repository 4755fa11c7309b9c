using System.Net;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Gateway:MaxDownloadsPerLink against requests that overlap: a whole download takes its place under the limit before
/// its first byte goes out, and gives it back if it does not complete.
/// </summary>
public class DownloadLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpRequestMessage FileRequest(GatewayTestHost host, StoredFile file)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        request.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
        request.Headers.Accept.ParseAdd("application/json"); // a refusal then says its code
        return request;
    }

    [Fact]
    public async Task A_second_download_while_the_first_is_under_way_is_refused_when_the_link_allows_one()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.MaxDownloadsPerLink = 1);
        var original = TestFiles.RandomBytes(3 * 1024 * 1024);
        var file = await host.StoreAsync(original, "once.bin");
        using var client = new HttpClient();

        // The first has its headers and nothing more read yet; the second asks meanwhile.
        using var first = await client.SendAsync(FileRequest(host, file), HttpCompletionOption.ResponseHeadersRead, Ct);
        using var second = await client.SendAsync(FileRequest(host, file), Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, second.StatusCode);
        Assert.Contains("download_limit", await second.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(original, await first.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(1, (await host.CountedAsync(file, 1)).Downloads);
    }

    [Fact]
    public async Task A_download_broken_off_gives_its_place_back()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.MaxDownloadsPerLink = 1);
        // Larger than what the sockets between client and server buffer, so the server cannot finish on its own.
        var original = TestFiles.RandomBytes(24 * 1024 * 1024);
        var file = await host.StoreAsync(original, "big.bin");

        using (var client = new HttpClient())
        using (var broken = await client.SendAsync(FileRequest(host, file), HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, broken.StatusCode);
            Assert.Equal(1, (await host.Index.FindByCidAsync(file.Cid, Ct))!.Downloads); // its place is taken
            await using var body = await broken.Content.ReadAsStreamAsync(Ct);
            await body.ReadExactlyAsync(new byte[64 * 1024], Ct);
        }

        // The connection is gone with the client; the server notices and takes the count back.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await host.Index.FindByCidAsync(file.Cid, Ct))!.Downloads != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        Assert.Equal(0, (await host.Index.FindByCidAsync(file.Cid, Ct))!.Downloads);
        Assert.Equal(0, host.Metrics.Downloads);
        using var again = new HttpClient();
        using var whole = await again.SendAsync(FileRequest(host, file), Ct);
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal(original, await whole.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(1, (await host.CountedAsync(file, 1)).Downloads);
    }
}
