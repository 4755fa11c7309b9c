using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Tests.Download;
using Detach.Vault.Storage;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// `detach fetch` from another machine's point of view: the gateway runs on its own port over its own data folder
/// (<see cref="GatewayTestHost"/>), the client has a different DataPath and PublicUrl, so the link is fetched over
/// HTTP from the link's host. Every answer the gateway can give maps to its own exit code and sentence.
/// </summary>
public sealed class RemoteFetchTests : IDisposable
{
    private const int Length = (1536 * 1024) + 777; // 24 full records and a short one

    private readonly DataFolder _client = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _client.Dispose();

    private static string Link(GatewayTestHost host, StoredFile file) => $"{host.BaseUrl}/d/{file.Cid}#{file.LinkKey}";

    private string Folder(string name) => Directory.CreateDirectory(Path.Combine(_client.Path, name)).FullName;

    private async Task<(int Exit, string Error)> FetchAsync(string link, string? output, bool resume = false)
    {
        var error = new StringWriter();
        var exit = await FetchCommand.RunAsync(_client.Settings(), new FetchRequest(link, output, resume), error, Ct);
        return (exit, error.ToString());
    }

    [Fact]
    public async Task The_file_is_saved_byte_identical_under_the_name_the_server_offers()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(Length);
        var file = await host.StoreAsync(original, "Résumé – Q3 2026.pdf", "application/pdf");
        var folder = Folder("offered");

        var (exit, error) = await FetchAsync(Link(host, file), folder);

        Assert.True(exit == ExitCodes.Ok, error);
        var saved = Path.Combine(folder, "Résumé – Q3 2026.pdf");
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(saved));
        Assert.Equal([saved], Directory.GetFiles(folder));
        Assert.Contains($"saved Résumé – Q3 2026.pdf (1.6 MB) as {saved}", error, StringComparison.Ordinal);
        Assert.DoesNotContain(file.LinkKey, error, StringComparison.Ordinal);
        Assert.DoesNotContain(host.Logs.Lines, l => l.Contains(file.LinkKey, StringComparison.Ordinal));
        Assert.Equal(1, (await host.CountedAsync(file, 1)).Downloads);
    }

    [Fact]
    public async Task An_existing_file_is_kept_and_an_explicit_output_is_used_as_given()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(100_000);
        var file = await host.StoreAsync(original, "report.pdf");
        var folder = Folder("existing");
        await File.WriteAllTextAsync(Path.Combine(folder, "report.pdf"), "mine", Ct);

        Assert.Equal(ExitCodes.Ok, (await FetchAsync(Link(host, file), folder)).Exit);
        Assert.Equal(ExitCodes.Ok, (await FetchAsync(Link(host, file), Path.Combine(folder, "chosen.bin"))).Exit);

        Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(folder, "report.pdf"), Ct));
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder, "report (1).pdf")));
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder, "chosen.bin")));
        Assert.Equal(3, Directory.GetFiles(folder).Length);
    }

    [Fact]
    public async Task A_wrong_key_is_77_and_leaves_nothing()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(10_000), "a.bin");
        var wrong = file with { LinkKey = (file.LinkKey[0] == 'A' ? "B" : "A") + file.LinkKey[1..] };
        var folder = Folder("wrong");

        var (exit, error) = await FetchAsync(Link(host, wrong), folder);

        Assert.Equal(ExitCodes.NoPermission, exit);
        Assert.Contains("the key in the link does not open this file (HTTP 403, wrong_key)", error, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong.LinkKey, error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public async Task An_unknown_file_is_66()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(10_000), "a.bin");
        var other = file with { Cid = "bafkrei" + new string('a', 52) };

        var (exit, error) = await FetchAsync(Link(host, other), Folder("unknown"));

        Assert.Equal(ExitCodes.NoInput, exit);
        Assert.Contains("has no file at this address (HTTP 404, not_found)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Expired_withdrawn_and_used_up_files_are_69_with_their_reason()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var expired = await host.StoreAsync(TestFiles.RandomBytes(10_000), "old.bin", expiresAt: DateTimeOffset.UtcNow.AddMinutes(-1), senderDomain: "sender.example");
        var revoked = await host.StoreAsync(TestFiles.RandomBytes(10_001), "withdrawn.bin");
        await host.Index.RevokeAsync(revoked.Cid, "revoked by admin", DateTimeOffset.UtcNow, Ct);
        var once = await host.StoreAsync(TestFiles.RandomBytes(10_002), "once.bin", maxDownloads: 1);
        Assert.Equal(ExitCodes.Ok, (await FetchAsync(Link(host, once), Folder("once"))).Exit);
        await host.CountedAsync(once, 1);

        var (expiredExit, expiredError) = await FetchAsync(Link(host, expired), Folder("expired"));
        var (revokedExit, revokedError) = await FetchAsync(Link(host, revoked), Folder("revoked"));
        var (onceExit, onceError) = await FetchAsync(Link(host, once), Folder("twice"));

        Assert.Equal(ExitCodes.Unavailable, expiredExit);
        Assert.Contains("the file is gone: it expired (HTTP 410, expired)", expiredError, StringComparison.Ordinal);
        Assert.Contains("ask the sender (sender.example)", expiredError, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Unavailable, revokedExit);
        Assert.Contains("withdrew it (HTTP 410, revoked)", revokedError, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Unavailable, onceExit);
        Assert.Contains("its download limit is used up (HTTP 410, download_limit)", onceError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Too_many_attempts_and_an_unavailable_store_are_75_with_when_to_retry()
    {
        DownStore? store = null;
        await using var host = await GatewayTestHost.StartAsync(o => o.KeyAttemptsPerMinute = 1, inner => store = new DownStore(inner));
        var file = await host.StoreAsync(TestFiles.RandomBytes(10_000), "a.bin");
        var wrong = file with { LinkKey = (file.LinkKey[0] == 'A' ? "B" : "A") + file.LinkKey[1..] };

        store!.Down = true;
        var (downExit, downError) = await FetchAsync(Link(host, file), Folder("down"));
        store.Down = false;
        Assert.Equal(ExitCodes.NoPermission, (await FetchAsync(Link(host, wrong), Folder("wrong"))).Exit);
        var (limitExit, limitError) = await FetchAsync(Link(host, wrong), Folder("limited"));

        Assert.Equal(ExitCodes.TempFail, downExit);
        Assert.Contains("cannot serve the file right now (HTTP 503, storage_unavailable); try again in 60 s", downError, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.TempFail, limitExit);
        Assert.Matches(@"too many attempts from your address \(HTTP 429, too_many_attempts\); try again in \d+ s", limitError);
    }

    [Fact]
    public async Task Network_failures_say_what_failed()
    {
        var closed = FreePort.Next();
        var key = new string('A', 43);

        var (refusedExit, refusedError) = await FetchAsync($"http://127.0.0.1:{closed}/d/bafkreiabc#{key}", Folder("refused"));
        var (unknownExit, unknownError) = await FetchAsync($"http://no-such-host.invalid/d/bafkreiabc#{key}", Folder("unknown"));

        Assert.Equal(ExitCodes.TempFail, refusedExit);
        Assert.Contains($"cannot reach 127.0.0.1:{closed} (Connection refused", refusedError, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.NoHost, unknownExit);
        Assert.Contains("cannot find the host no-such-host.invalid", unknownError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500 Internal Server Error", ExitCodes.TempFail, "failed to answer (HTTP 500); try again later")]
    [InlineData("502 Bad Gateway", ExitCodes.TempFail, "failed to answer (HTTP 502)")]
    [InlineData("401 Unauthorized", ExitCodes.Protocol, "unexpected answer from 127.0.0.1")]
    [InlineData("200 OK", ExitCodes.TempFail, "after 3 bytes of 10 bytes; the bytes so far are kept")]
    public async Task Answers_from_something_else_than_a_gateway_are_mapped_too(string status, int expected, string message)
    {
        // "200 OK" promises 10 bytes and sends 3 before closing: the connection broke mid-file.
        await using var server = new ScriptedHttpServer(_ => status == "200 OK"
            ? "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"x\"\r\nConnection: close\r\n\r\nabc"
            : ScriptedHttpServer.Response(status, "<html>proxy page</html>", "Content-Type: text/html"));

        var (exit, error) = await FetchAsync($"{server.BaseUrl}/d/bafkreiabc#{new string('A', 43)}", Folder("scripted"));

        Assert.Equal(expected, exit);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hostile_offered_name_stays_in_the_folder_and_prints_nothing_strange()
    {
        await using var server = new ScriptedHttpServer(_ => ScriptedHttpServer.Response("200 OK", "payload",
            "Content-Disposition: attachment; filename=\"x\"; filename*=UTF-8''..%2F..%2F.evil%1B%5B31m%E2%80%AEfdp.sh"));
        var folder = Folder("hostile");

        var (exit, error) = await FetchAsync($"{server.BaseUrl}/d/bafkreiabc#{new string('A', 43)}", folder);

        Assert.True(exit == ExitCodes.Ok, error);
        var saved = Assert.Single(Directory.GetFiles(folder));
        Assert.Equal("evil[31mfdp.sh", Path.GetFileName(saved));
        Assert.Equal("payload", await File.ReadAllTextAsync(saved, Ct));
        Assert.DoesNotContain('\u001b', error);
        Assert.Empty(Directory.GetFiles(_client.Path));
    }

    [Fact]
    public async Task Redirects_keep_the_key_on_the_links_host()
    {
        await using var elsewhere = new ScriptedHttpServer(_ => ScriptedHttpServer.Response("200 OK", "stolen"));
        await using var server = new ScriptedHttpServer(request => request.StartsWith("GET /moved/", StringComparison.Ordinal)
            ? ScriptedHttpServer.Response("200 OK", "here", "Content-Disposition: attachment; filename=\"here.txt\"")
            : request.Contains("/d/bafkreisame/", StringComparison.Ordinal)
                ? ScriptedHttpServer.Response("302 Found", "", "Location: /moved/file")
                : ScriptedHttpServer.Response("302 Found", "", $"Location: {elsewhere.BaseUrl.Replace("127.0.0.1", "localhost", StringComparison.Ordinal)}/d/x/file"));
        var key = new string('A', 43);

        var (sameExit, sameError) = await FetchAsync($"{server.BaseUrl}/d/bafkreisame#{key}", Folder("same"));
        var (otherExit, otherError) = await FetchAsync($"{server.BaseUrl}/d/bafkreiother#{key}", Folder("other"));

        Assert.True(sameExit == ExitCodes.Ok, sameError);
        Assert.Equal("here", await File.ReadAllTextAsync(Path.Combine(_client.Path, "same", "here.txt"), Ct));
        Assert.Contains(server.Requests, r => r.StartsWith("GET /moved/file", StringComparison.Ordinal) && r.Contains("X-Detach-Key: " + key, StringComparison.Ordinal));
        Assert.Equal(ExitCodes.Protocol, otherExit);
        Assert.Contains("sends the key only to the link's own host", otherError, StringComparison.Ordinal);
        Assert.Empty(elsewhere.Requests);
        Assert.All(server.Requests, r => Assert.DoesNotContain(key, r.Split("\r\n")[0], StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_cut_connection_is_resumed_with_a_range_on_the_etag_and_the_file_is_byte_identical()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(Length);
        var file = await host.StoreAsync(original, "big.bin");
        await using var proxy = new InterruptingProxy(new Uri(host.BaseUrl).Port) { CutAfter = 700_000 };
        var link = $"http://127.0.0.1:{proxy.Port}/d/{file.Cid}#{file.LinkKey}";
        var folder = Folder("resume");
        var part = Path.Combine(folder, $"detach-{file.Cid}.part");

        var (cutExit, cutError) = await FetchAsync(link, folder);

        Assert.Equal(ExitCodes.TempFail, cutExit);
        Assert.Contains("the connection to 127.0.0.1", cutError, StringComparison.Ordinal);
        Assert.Contains($"are kept in {part}: run the same command with --continue", cutError, StringComparison.Ordinal);
        var kept = new FileInfo(part).Length;
        Assert.InRange(kept, 1, 700_000);
        Assert.False(File.Exists(Path.Combine(folder, "big.bin")));
        Assert.Equal(original.AsSpan(0, (int)kept).ToArray(), await File.ReadAllBytesAsync(part, Ct));

        proxy.CutAfter = null;
        var (exit, error) = await FetchAsync(link, folder, resume: true);

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("resumed at", error, StringComparison.Ordinal);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder, "big.bin")));
        Assert.Equal(["big.bin"], Directory.GetFiles(folder).Select(Path.GetFileName));
        var resumeRequest = proxy.Requests.Last(r => r.StartsWith("GET ", StringComparison.Ordinal));
        Assert.Contains($"Range: bytes={kept}-", resumeRequest, StringComparison.Ordinal);
        Assert.Contains($"If-Range: \"{file.Cid}\"", resumeRequest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_part_of_another_object_is_not_spliced_on()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(Length);
        var file = await host.StoreAsync(original, "big.bin");
        var folder = Folder("changed");
        // What an earlier run kept of a different object: junk under another ETag.
        await File.WriteAllBytesAsync(Path.Combine(folder, $"detach-{file.Cid}.part"), new byte[500_000], Ct);
        await File.WriteAllTextAsync(Path.Combine(folder, $"detach-{file.Cid}.part.json"),
            $$"""{"ETag":"\"bafkreiotherobject\"","Length":{{Length}},"Name":"big.bin"}""", Ct);

        var (exit, error) = await FetchAsync(Link(host, file), folder, resume: true);

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("it changed since the kept part", error, StringComparison.Ordinal);
        Assert.DoesNotContain("resumed at", error, StringComparison.Ordinal);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder, "big.bin")));
    }

    [Fact]
    public async Task A_part_of_a_withdrawn_file_is_removed_when_continuing()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(Length), "secret.bin");
        await using var proxy = new InterruptingProxy(new Uri(host.BaseUrl).Port) { CutAfter = 300_000 };
        var link = $"http://127.0.0.1:{proxy.Port}/d/{file.Cid}#{file.LinkKey}";
        var folder = Folder("withdrawn");
        Assert.Equal(ExitCodes.TempFail, (await FetchAsync(link, folder)).Exit);
        Assert.Single(Directory.GetFiles(folder, "*.part"));

        await host.Index.RevokeAsync(file.Cid, "revoked by admin", DateTimeOffset.UtcNow, Ct);
        var (exit, error) = await FetchAsync(link, folder, resume: true);

        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.Contains("HTTP 410, revoked", error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public async Task Continue_without_a_kept_part_downloads_it_all_and_standard_output_cannot_be_continued()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(70_000);
        var file = await host.StoreAsync(original, "small.bin");
        var folder = Folder("fresh");

        var (exit, error) = await FetchAsync(Link(host, file), folder, resume: true);
        var (stdoutExit, stdoutError) = await FetchAsync(Link(host, file), "-", resume: true);

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("nothing to continue", error, StringComparison.Ordinal);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder, "small.bin")));
        Assert.Equal(ExitCodes.Usage, stdoutExit);
        Assert.Contains("standard output cannot be resumed", stdoutError, StringComparison.Ordinal);
    }

    /// <summary>A store that fails every call while <see cref="Down"/> (the IPFS node unreachable).</summary>
    private sealed class DownStore(IContentStore inner) : IContentStore
    {
        public bool Down { get; set; }

        public Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken) => inner.AddAsync(content, cancellationToken);

        public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken) =>
            Down ? throw new StorageUnavailableException("node down") : inner.OpenReadAsync(cid, offset, length, cancellationToken);

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) => inner.GetSizeAsync(cid, cancellationToken);

        public Task RemoveAsync(Cid cid, CancellationToken cancellationToken) => inner.RemoveAsync(cid, cancellationToken);

        public Task<bool> IsAvailableAsync(CancellationToken cancellationToken) => Task.FromResult(!Down);
    }
}
