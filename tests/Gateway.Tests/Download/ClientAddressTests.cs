using System.Globalization;
using Detach.Crypto;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Who the client is behind a reverse proxy (Gateway:TrustedProxies), and what wrong keys cost it: through the real
/// nginx, one client's wrong keys stop neither another client nor a right key; headers from peers that are not
/// trusted proxies change nothing.
/// </summary>
public class ClientAddressTests
{
    private static readonly string WrongKey = LinkKeyText.Encode(new byte[32]);

    /// <summary>POSTs /meta with <paramref name="key"/> <paramref name="times"/> times from <paramref name="source"/>; the statuses in order.</summary>
    private static async Task<List<int>> MetaAsync(GatewayTestHost host, string baseUrl, string source, StoredFile file, string key, int times = 1, params string[] headers)
    {
        var arguments = new List<string> { "--interface", source, "-X", "POST", "-H", LinkKeyHeader.Name + ": " + key, "-H", "Accept: application/json", "-w", "%{http_code}\n" };
        foreach (var header in headers)
        {
            arguments.AddRange(["-H", header]);
        }

        for (var i = 0; i < times; i++)
        {
            arguments.AddRange(["-o", "/dev/null", $"{baseUrl}/d/{file.Cid}/meta"]);
        }

        var result = await Curl.RunAsync(host.Folder.FullName, [.. arguments]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        return [.. result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
    }

    private static int AccessLogLines(GatewayTestHost host, string remote) =>
        host.Logs.Lines.Count(l => l.Contains("AccessLogMiddleware", StringComparison.Ordinal) && l.Contains("Remote=" + remote + " ", StringComparison.Ordinal));

    /// <summary>The access log writes its line once the response is complete, which can be just after the client has read it.</summary>
    private static async Task AssertAccessLogLinesAsync(int expected, GatewayTestHost host, string remote)
    {
        for (var waited = 0; AccessLogLines(host, remote) < expected && waited < 100; waited++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Equal(expected, AccessLogLines(host, remote));
    }

    [Fact]
    public async Task BehindNginxFortyWrongKeysFromOneClientStopNeitherAnotherClientNorTheRightKey()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.TrustedProxies = ["127.0.0.1/32"]);
        var file = await host.StoreAsync(TestFiles.RandomBytes(2000), "shared.pdf");
        var other = await host.StoreAsync(TestFiles.RandomBytes(2000), "other.pdf");
        await using var nginx = await NginxProxy.StartAsync(host.BaseUrl);
        var proxy = nginx.BaseUrl;

        var attacker = await MetaAsync(host, proxy, "127.0.0.2", file, WrongKey, times: 40);

        Assert.Equal(Enumerable.Repeat(403, 30).Concat(Enumerable.Repeat(429, 10)), attacker);
        Assert.Equal([200], await MetaAsync(host, proxy, "127.0.0.3", file, file.LinkKey)); // another client, same link
        Assert.Equal([403], await MetaAsync(host, proxy, "127.0.0.3", file, WrongKey)); // its own wrong key is its own
        Assert.Equal([200], await MetaAsync(host, proxy, "127.0.0.2", file, file.LinkKey)); // the right key, even from the same client
        Assert.Equal([200], await MetaAsync(host, proxy, "127.0.0.2", other, other.LinkKey));
        Assert.Equal([403], await MetaAsync(host, proxy, "127.0.0.2", other, WrongKey)); // limits are per link...
        Assert.Equal([429], await MetaAsync(host, proxy, "127.0.0.2", file, WrongKey));
        // ...and naming another client in its own X-Forwarded-For does not get it out: nginx appends the real one.
        Assert.Equal([429], await MetaAsync(host, proxy, "127.0.0.2", file, WrongKey, 1, "X-Forwarded-For: 10.9.9.9"));
        var download = await Curl.RunAsync(host.Folder.FullName, "--interface", "127.0.0.2", "--fail", "-o", "shared.pdf",
            "-H", LinkKeyHeader.Name + ": " + file.LinkKey, proxy + $"/d/{file.Cid}/file");
        Assert.True(download.ExitCode == 0, download.StandardError);

        await AssertAccessLogLinesAsync(0, host, "127.0.0.1");
        await AssertAccessLogLinesAsync(46, host, "127.0.0.2");
        await AssertAccessLogLinesAsync(0, host, "10.9.9.9");
    }

    [Fact]
    public async Task WrongKeysPastTheClientCeilingAreRefusedOnEveryLinkButRightKeysAreNot()
    {
        await using var host = await GatewayTestHost.StartAsync(options =>
        {
            options.KeyAttemptsPerMinute = 2;
            options.KeyAttemptsPerClientPerMinute = 3;
        });
        var files = new List<StoredFile>();
        for (var i = 0; i < 3; i++)
        {
            files.Add(await host.StoreAsync(TestFiles.RandomBytes(100 + i), $"f{i}.bin"));
        }

        Assert.Equal([403, 403, 429], await MetaAsync(host, host.BaseUrl, "127.0.0.5", files[0], WrongKey, times: 3));
        Assert.Equal([403, 429], await MetaAsync(host, host.BaseUrl, "127.0.0.5", files[1], WrongKey, times: 2));
        Assert.Equal([429], await MetaAsync(host, host.BaseUrl, "127.0.0.5", files[2], WrongKey));
        Assert.Equal([200], await MetaAsync(host, host.BaseUrl, "127.0.0.5", files[2], files[2].LinkKey));
        Assert.Equal([403], await MetaAsync(host, host.BaseUrl, "127.0.0.6", files[2], WrongKey));
    }

    [Fact]
    public async Task ForwardedHeadersFromAPeerThatIsNotATrustedProxyAreIgnored()
    {
        await using var host = await GatewayTestHost.StartAsync(options =>
        {
            options.TrustedProxies = ["127.0.0.1/32"];
            options.KeyAttemptsPerMinute = 5;
        });
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "direct.bin");

        // Each request names another client; were that believed, no client would reach the limit.
        var statuses = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            statuses.AddRange(await MetaAsync(host, host.BaseUrl, "127.0.0.4", file, WrongKey, 1,
                $"X-Forwarded-For: 10.0.0.{i}", $"Forwarded: for=10.0.1.{i}"));
        }

        Assert.Equal([403, 403, 403, 403, 403, 429], statuses);
        await AssertAccessLogLinesAsync(6, host, "127.0.0.4");
        Assert.DoesNotContain(host.Logs.Lines, l => l.Contains("Remote=10.0.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithNoTrustedProxyEvenLoopbackHeadersAreIgnored()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "direct.bin");

        await MetaAsync(host, host.BaseUrl, "127.0.0.1", file, file.LinkKey, 1, "X-Forwarded-For: 10.0.0.1");

        await AssertAccessLogLinesAsync(1, host, "127.0.0.1");
    }

    [Fact]
    public async Task ATrustedProxysStandardForwardedHeaderNamesTheClient()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.TrustedProxies = ["127.0.0.1"]);
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "forwarded.bin");

        await MetaAsync(host, host.BaseUrl, "127.0.0.1", file, file.LinkKey, 1, "Forwarded: for=\"[2001:db8::7]:4711\";proto=https");
        await MetaAsync(host, host.BaseUrl, "127.0.0.1", file, file.LinkKey, 1, "Forwarded: for=192.0.2.60;by=x, for=127.0.0.1");

        await AssertAccessLogLinesAsync(1, host, "2001:db8::7");
        await AssertAccessLogLinesAsync(1, host, "192.0.2.60");
    }

    [Theory]
    [InlineData("for=192.0.2.43", "192.0.2.43")]
    [InlineData("For=\"192.0.2.43:47011\"", "192.0.2.43")]
    [InlineData("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17")]
    [InlineData("for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17", "192.0.2.60|198.51.100.17")]
    [InlineData("by=x;for=unknown, for=_hidden", "unknown|_hidden")]
    [InlineData("for=\"a,b;c\";proto=https, for=10.0.0.1", "a,b;c|10.0.0.1")]
    [InlineData("proto=https", "")]
    public void ForValuesAreReadAsXForwardedForWritesThem(string header, string expected)
    {
        Assert.Equal(expected, string.Join('|', ForwardedForTranslation.ForValues(header)));
    }
}
