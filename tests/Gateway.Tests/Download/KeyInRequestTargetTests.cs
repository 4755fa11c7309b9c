using System.Net;
using Detach.Gateway.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Mail security gateways rewrite links and may percent-encode the fragment, so the link key can reach the
/// server in the request target. Whatever form it takes, no log line at any level may hold it, and the page
/// must still work.
/// </summary>
public class KeyInRequestTargetTests
{
    /// <summary>Every category at Trace, every filter the gateway sets removed: what an operator debugging sees.</summary>
    private static Task<GatewayTestHost> StartWithEveryLogAsync() =>
        GatewayTestHost.StartAsync(services: s => s.PostConfigure<LoggerFilterOptions>(options =>
        {
            options.Rules.Clear();
            options.MinLevel = LogLevel.Trace;
        }));

    [Fact]
    public async Task NoLogAtAnyLevelHoldsAKeySentInTheRequestTarget()
    {
        await using var host = await StartWithEveryLogAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(5000), "target.bin");
        var key = file.LinkKey;
        var folder = TestFiles.Scratch(host, "target");
        var page = host.PageUrl(file);

        string[] targets =
        [
            $"/d/{file.Cid}%23{key}",
            $"/d/{file.Cid}%2523{key}",
            $"/d/{file.Cid}%25252523{key}",
            $"/d/{file.Cid}%23{key}/file",
            $"/d/{file.Cid}/file%23{key}",
            $"/d/{file.Cid}?{key}",
            $"/d/{file.Cid}?key={key}",
            $"/d/{file.Cid}/file?key={key}",
            $"/d/{file.Cid}/meta?%23{key}",
            $"/d/{file.Cid}%3F{key}",
            $"/nowhere%23{key}",
            $"/nowhere?{key}",
        ];
        var statuses = new List<string>();
        foreach (var target in targets)
        {
            var result = await Curl.RunAsync(folder.FullName, "-o", "answer.bin", "-w", "%{http_code}", host.BaseUrl + target);
            statuses.Add(target + " " + result.StandardOutput);
        }

        // The page itself, for the rewritten link, is the same page as for the original one.
        using var client = new HttpClient();
        var expected = await client.GetByteArrayAsync(page, TestContext.Current.CancellationToken);
        foreach (var encodedHash in new[] { "%23", "%2523" })
        {
            var result = await Curl.RunAsync(folder.FullName, "--fail", "-o", "page.html", $"{page}{encodedHash}{key}");
            Assert.True(result.ExitCode == 0, result.StandardError);
            Assert.Equal(expected, await File.ReadAllBytesAsync(Path.Combine(folder.FullName, "page.html"), TestContext.Current.CancellationToken));
        }

        string[] rawLines =
        [
            $"GET /d/{file.Cid}#{key} HTTP/1.1",
            $"GET /d/{file.Cid}/file#{key} HTTP/1.1",
            $"GET {host.BaseUrl}/d/{file.Cid}%23{key} HTTP/1.1",
            $"GET {host.BaseUrl}/d/{file.Cid}#{key} HTTP/1.1",
            $"GET /d/{file.Cid}%23{key}\u007f HTTP/1.1",
            $"GET /d/{file.Cid}%23{key} HTTP/1.1 trailing",
            $"GET /d/{file.Cid}%23{key} HTTP/9.9",
            $"POST /d/{file.Cid}%23{key}/meta HTTP/1.1",
        ];
        foreach (var line in rawLines)
        {
            statuses.Add(line + " -> " + await RawHttp.SendAsync(host.BaseUrl, line));
        }

        // A key in a header Kestrel cannot parse: Kestrel quotes the bad line in its own bad-request message.
        string[] badHeaders = [$"X-Detach-Key {key}", $"X-Detach-Key : {key}", $"X-Detach-Key: {key}\u0000", $"{key}: x", $"X-Detach-Key:\t{key}\u007f"];
        foreach (var header in badHeaders)
        {
            statuses.Add(header + " -> " + await RawHttp.SendAsync(host.BaseUrl, $"GET /d/{file.Cid}/file HTTP/1.1", header));
        }

        var leaks = host.Logs.Lines.Where(l => l.Contains(key[..16], StringComparison.Ordinal) || l.Contains(key[^16..], StringComparison.Ordinal)).ToList();
        Assert.True(leaks.Count == 0, string.Join("\n", statuses) + "\n---\n" + string.Join("\n", leaks));
        Assert.Contains(host.Logs.Lines, l => l.Contains("Request starting", StringComparison.Ordinal)); // the host's own lines were on
        Assert.Contains(host.Logs.Lines, l => l.Contains("bad request data", StringComparison.Ordinal)); // and Kestrel's
    }
}
