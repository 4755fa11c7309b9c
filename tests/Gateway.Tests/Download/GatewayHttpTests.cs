using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Detach.Gateway.Http;
using Detach.Vault.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Download;

/// <summary>The browser's path (page, metadata call, cookie, download) and the answers' headers, over HttpClient.</summary>
public class GatewayHttpTests
{
    private static (HttpClient Client, CookieContainer Cookies) NewClient()
    {
        var cookies = new CookieContainer();
        var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, UseCookies = true, AllowAutoRedirect = false });
        return (client, cookies);
    }

    private static HttpRequestMessage Meta(GatewayTestHost host, StoredFile file, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, host.PageUrl(file) + "/meta");
        request.Headers.Accept.ParseAdd("application/json");
        if (key is not null)
        {
            request.Headers.Add(LinkKeyHeader.Name, key);
        }

        return request;
    }

    [Fact]
    public async Task ThePageIsTheSameForEveryCidAndCountsNothing()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "page.bin");
        var (client, _) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;

        using var known = await client.GetAsync(host.PageUrl(file), ct);
        using var unknown = await client.GetAsync($"{host.BaseUrl}/d/bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ct);

        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
        Assert.Equal(HttpStatusCode.OK, unknown.StatusCode);
        var page = await known.Content.ReadAsByteArrayAsync(ct);
        Assert.Equal(page, await unknown.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal("text/html; charset=utf-8", known.Content.Headers.ContentType!.ToString());
        Assert.Equal(SecurityHeaders.PagePolicy, known.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("no-referrer", known.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal("no-store", known.Headers.CacheControl!.ToString());
        Assert.Contains("noindex", known.Headers.GetValues("X-Robots-Tag").Single(), StringComparison.Ordinal);
        Assert.False(known.Headers.Contains("Set-Cookie"));
        var html = System.Text.Encoding.UTF8.GetString(page);
        Assert.Contains("<noscript>", html, StringComparison.Ordinal);
        Assert.Contains("curl -fOJ -H \"X-Detach-Key: KEY\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain(file.Cid, html, StringComparison.Ordinal);

        using var script = await client.GetAsync(host.BaseUrl + DownloadAssets.ScriptPath, ct);
        using var style = await client.GetAsync(host.BaseUrl + DownloadAssets.StylePath, ct);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.Equal("text/css", style.Content.Headers.ContentType!.MediaType);
        var record = await host.Index.FindByCidAsync(file.Cid, ct);
        Assert.Equal(0, record!.Downloads);
        Assert.Equal(0, host.Metrics.KeyRejections);
    }

    [Fact]
    public async Task MetadataCallSetsAScopedCookieThatDownloadsAndResumes()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(700_000);
        var file = await host.StoreAsync(original, "photo.jpg", "image/jpeg", senderDomain: "photos.example");
        var (client, cookies) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;

        using var meta = await client.SendAsync(Meta(host, file, file.LinkKey), ct);

        Assert.Equal(HttpStatusCode.OK, meta.StatusCode);
        var json = await meta.Content.ReadFromJsonAsync<JsonElement>(ct);
        Assert.Equal("photo.jpg", json.GetProperty("name").GetString());
        Assert.Equal(700_000, json.GetProperty("size").GetInt64());
        Assert.Equal("image/jpeg", json.GetProperty("type").GetString());
        Assert.Equal("photos.example", json.GetProperty("senderDomain").GetString());
        Assert.Equal(3600, json.GetProperty("downloadWindowSeconds").GetInt32());
        var setCookie = meta.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"path=/d/{file.Cid}", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(file.LinkKey, setCookie, StringComparison.Ordinal);
        Assert.Single(cookies.GetCookies(new Uri(host.FileUrl(file))));
        Assert.Empty(cookies.GetCookies(new Uri($"{host.BaseUrl}/d/other")));

        var whole = await client.GetByteArrayAsync(host.FileUrl(file), ct);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256(whole));

        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        rangeRequest.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(650_000, null);
        rangeRequest.Headers.IfRange = new System.Net.Http.Headers.RangeConditionHeaderValue("\"" + file.Cid + "\"");
        using var tail = await client.SendAsync(rangeRequest, ct);
        Assert.Equal(HttpStatusCode.PartialContent, tail.StatusCode);
        Assert.Equal(original.AsSpan(650_000).ToArray(), await tail.Content.ReadAsByteArrayAsync(ct));

        using var staleRequest = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        staleRequest.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(650_000, null);
        staleRequest.Headers.IfRange = new System.Net.Http.Headers.RangeConditionHeaderValue("\"some-other-version\"");
        using var stale = await client.SendAsync(staleRequest, ct);
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal(700_000, stale.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task MetadataAcceptsTheKeyInAJsonBodyAndRefusesAWrongOne()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(100), "tiny.txt", "text/plain");
        var (client, _) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;

        using var viaBody = await client.PostAsJsonAsync(host.PageUrl(file) + "/meta", new { key = file.LinkKey }, ct);
        using var wrong = await client.SendAsync(Meta(host, file, Detach.Crypto.LinkKeyText.Encode(new byte[32])), ct);
        using var none = await client.SendAsync(Meta(host, file, null), ct);

        Assert.Equal(HttpStatusCode.OK, viaBody.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Equal("wrong_key", (await wrong.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("error").GetString());
        Assert.False(wrong.Headers.Contains("Set-Cookie"));
        Assert.Equal(HttpStatusCode.Forbidden, none.StatusCode);
        Assert.Equal(2, host.Metrics.KeyRejections);
    }

    [Fact]
    public async Task ATokenOpensOnlyTheFileItWasIssuedFor()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var first = await host.StoreAsync(TestFiles.RandomBytes(1000), "a.bin");
        var second = await host.StoreAsync(TestFiles.RandomBytes(1000), "b.bin");
        var (client, cookies) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;
        (await client.SendAsync(Meta(host, first, first.LinkKey), ct)).Dispose();
        var token = cookies.GetCookies(new Uri(host.FileUrl(first)))[LinkKeyHeader.TokenCookie]!.Value;

        async Task<string> CodeWithCookieAsync(StoredFile file, string value)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
            request.Headers.Add("Cookie", $"{LinkKeyHeader.TokenCookie}={value}");
            request.Headers.Accept.ParseAdd("application/json");
            using var plain = new HttpClient();
            using var response = await plain.SendAsync(request, ct);
            return response.StatusCode == HttpStatusCode.OK
                ? "ok"
                : (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("error").GetString()!;
        }

        Assert.Equal("ok", await CodeWithCookieAsync(first, token));
        Assert.Equal("session_expired", await CodeWithCookieAsync(second, token));
        Assert.Equal("session_expired", await CodeWithCookieAsync(first, token[..^4] + "AAAA"));
        Assert.Equal("session_expired", await CodeWithCookieAsync(first, "garbage"));
    }

    [Fact]
    public async Task DownloadsPastTheConcurrencyCapAreTurnedAwayWithRetryAfter()
    {
        StallingStore? stalling = null;
        await using var host = await GatewayTestHost.StartAsync(
            wrapStore: inner => stalling = new StallingStore(inner),
            services: s => s.AddSingleton(new DownloadSlots(capacity: 1, wait: TimeSpan.FromMilliseconds(200))));
        var original = TestFiles.RandomBytes(300_000);
        var file = await host.StoreAsync(original, "slow.bin");
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        HttpRequestMessage Download()
        {
            var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
            request.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
            return request;
        }

        // The first download takes the only slot, then waits on a store read that does not answer yet.
        var first = client.SendAsync(Download(), ct);
        await stalling!.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        using (var second = await client.SendAsync(Download(), ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
            Assert.NotNull(second.Headers.RetryAfter);
        }

        stalling.Release.SetResult();
        using var firstResponse = await first;
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256(await firstResponse.Content.ReadAsByteArrayAsync(ct)));
        using var third = await client.SendAsync(Download(), ct);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    /// <summary>The real store, whose reads wait for <see cref="Release"/> (reporting the first through <see cref="Entered"/>).</summary>
    private sealed class StallingStore(IContentStore inner) : IContentStore
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken) => inner.AddAsync(content, cancellationToken);

        public async Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            return await inner.OpenReadAsync(cid, offset, length, cancellationToken);
        }

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) => inner.GetSizeAsync(cid, cancellationToken);

        public Task RemoveAsync(Cid cid, CancellationToken cancellationToken) => inner.RemoveAsync(cid, cancellationToken);

        public Task<bool> IsAvailableAsync(CancellationToken cancellationToken) => inner.IsAvailableAsync(cancellationToken);
    }

    [Fact]
    public async Task EmptyFilesDownloadToo()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync([], "empty.txt", "text/plain");
        var (client, _) = NewClient();
        using var _client = client;
        using var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file));
        request.Headers.Add(LinkKeyHeader.Name, file.LinkKey);

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task WrongKeysAreLimitedPerClientAndLinkAndNeverStopTheRightKey()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.KeyAttemptsPerMinute = 3);
        var file = await host.StoreAsync(TestFiles.RandomBytes(100), "limited.bin");
        var (client, _) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;
        var wrongKey = Detach.Crypto.LinkKeyText.Encode(new byte[32]);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.SendAsync(Meta(host, file, wrongKey), ct);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.True(response.Headers.RetryAfter is not null);
                Assert.Equal("too_many_attempts", (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("error").GetString());
            }
        }

        using var right = await client.SendAsync(Meta(host, file, file.LinkKey), ct);
        using var page = await client.GetAsync(host.PageUrl(file), ct); // the page needs no key and is never limited

        Assert.Equal([HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task NoLogLineHoldsTheKeyOrTheToken()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(400_000);
        var file = await host.StoreAsync(original, "logged.bin");
        var (client, cookies) = NewClient();
        using var _client = client;
        var ct = TestContext.Current.CancellationToken;

        (await client.GetAsync(host.PageUrl(file), ct)).Dispose();
        (await client.SendAsync(Meta(host, file, file.LinkKey), ct)).Dispose();
        (await client.SendAsync(Meta(host, file, file.LinkKey[..^2] + "AA"), ct)).Dispose();
        (await client.PostAsJsonAsync(host.PageUrl(file) + "/meta", new { key = file.LinkKey }, ct)).Dispose();
        var token = cookies.GetCookies(new Uri(host.FileUrl(file)))[LinkKeyHeader.TokenCookie]!.Value;
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256(await client.GetByteArrayAsync(host.FileUrl(file), ct)));
        using (var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file)))
        {
            request.Headers.Add(LinkKeyHeader.Name, file.LinkKey);
            request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(10, 20);
            (await client.SendAsync(request, ct)).Dispose();
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, host.FileUrl(file) + "?key=" + Uri.EscapeDataString(file.LinkKey)))
        {
            (await client.SendAsync(request, ct)).Dispose();
        }

        var lines = host.Logs.Lines;
        Assert.Contains(lines, line => line.Contains($"/d/{file.Cid}/file 200", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains($"POST /d/{file.Cid}/meta 403", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(file.LinkKey, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(file.LinkKey[..20], StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(token[..20], StringComparison.Ordinal));
    }
}
