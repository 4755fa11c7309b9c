using Detach.Crypto;
using Detach.Vault.Storage;

namespace Detach.Gateway.Tests.Download;

/// <summary>Downloads with the real curl binary against the gateway on a real socket.</summary>
public class CurlDownloadTests
{
    private const int FileLength = (1536 * 1024) + 777; // 24 records and a short one

    private static string KeyHeader(StoredFile file) => "X-Detach-Key: " + file.LinkKey;

    [Fact]
    public async Task FullDownloadIsTheOriginalUnderItsOwnName()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(FileLength);
        var file = await host.StoreAsync(original, "quarterly-report 2026.bin", "application/vnd.example.report");
        var folder = TestFiles.Scratch(host, "full");

        var result = await Curl.RunAsync(folder.FullName, "--fail", "--remote-name", "--remote-header-name",
            "--dump-header", "headers.txt", "-H", KeyHeader(file), host.FileUrl(file));

        Assert.True(result.ExitCode == 0, result.StandardError);
        var saved = Path.Combine(folder.FullName, "quarterly-report 2026.bin");
        Assert.True(File.Exists(saved), "curl -OJ did not save under the original name: " + string.Join(", ", folder.GetFiles().Select(f => f.Name)));
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(saved));
        var (status, headers) = Curl.ReadHeaderDump(Path.Combine(folder.FullName, "headers.txt"));
        Assert.Equal(200, status);
        Assert.Equal("application/vnd.example.report", headers["Content-Type"]);
        Assert.Equal(FileLength.ToString(System.Globalization.CultureInfo.InvariantCulture), headers["Content-Length"]);
        Assert.Equal("bytes", headers["Accept-Ranges"]);
        Assert.Equal("\"" + file.Cid + "\"", headers["ETag"]);
        Assert.Equal("nosniff", headers["X-Content-Type-Options"]);
        Assert.Equal("no-referrer", headers["Referrer-Policy"]);
        Assert.Equal("no-store", headers["Cache-Control"]);

        var record = await host.CountedAsync(file, 1);
        Assert.Equal(1, record.Downloads);
        Assert.Equal(1, host.Metrics.Downloads);
        Assert.Equal(FileLength, host.Metrics.DownloadBytes);
    }

    [Fact]
    public async Task RangeRequestGetsExactlyThatSliceAndCountsNoDownload()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(FileLength);
        var file = await host.StoreAsync(original, "slice.bin");
        var folder = TestFiles.Scratch(host, "range");

        var result = await Curl.RunAsync(folder.FullName, "--fail", "-o", "part.bin", "--dump-header", "headers.txt",
            "-H", KeyHeader(file), "-H", "Range: bytes=100000-200000", host.FileUrl(file));

        Assert.True(result.ExitCode == 0, result.StandardError);
        var (status, headers) = Curl.ReadHeaderDump(Path.Combine(folder.FullName, "headers.txt"));
        Assert.Equal(206, status);
        Assert.Equal($"bytes 100000-200000/{FileLength}", headers["Content-Range"]);
        Assert.Equal(original.AsSpan(100_000, 100_001).ToArray(), await File.ReadAllBytesAsync(Path.Combine(folder.FullName, "part.bin"), TestContext.Current.CancellationToken));
        var record = await host.Index.FindByCidAsync(file.Cid, TestContext.Current.CancellationToken);
        Assert.Equal(0, record!.Downloads);
        Assert.Equal(0, host.Metrics.Downloads);
    }

    [Fact]
    public async Task InterruptedDownloadResumesWithCurlContinueAt()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(FileLength);
        var file = await host.StoreAsync(original, "resume.bin");
        var folder = TestFiles.Scratch(host, "resume");
        var target = Path.Combine(folder.FullName, "resume.bin");
        await File.WriteAllBytesAsync(target, original.AsMemory(0, 300_001).ToArray(), TestContext.Current.CancellationToken);

        var result = await Curl.RunAsync(folder.FullName, "--fail", "-C", "-", "-o", "resume.bin", "--dump-header", "headers.txt",
            "-H", KeyHeader(file), host.FileUrl(file));

        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Equal(206, Curl.ReadHeaderDump(Path.Combine(folder.FullName, "headers.txt")).Status);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(target));
    }

    [Fact]
    public async Task RangePastTheEndIsUnsatisfiable()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "small.bin");
        var folder = TestFiles.Scratch(host, "416");

        var result = await Curl.RunAsync(folder.FullName, "-o", "out.bin", "--dump-header", "headers.txt",
            "-H", KeyHeader(file), "-H", "Range: bytes=1000-", host.FileUrl(file));

        Assert.Equal(0, result.ExitCode);
        var (status, headers) = Curl.ReadHeaderDump(Path.Combine(folder.FullName, "headers.txt"));
        Assert.Equal(416, status);
        Assert.Equal("bytes */1000", headers["Content-Range"]);
    }

    [Fact]
    public async Task TamperedRecordAbortsTheTransferBeforeItsPlaintext()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var original = TestFiles.RandomBytes(FileLength);
        var file = await host.StoreAsync(original, "tampered.bin");
        var stored = host.LocalStore.PathOf(Cid.Parse(file.Cid));
        await using (var handle = new FileStream(stored, FileMode.Open, FileAccess.ReadWrite))
        {
            handle.Position = RecordFormat.GetRecordOffset(3) + 1000;
            var b = handle.ReadByte();
            handle.Position--;
            handle.WriteByte((byte)(b ^ 0x01));
        }

        var folder = TestFiles.Scratch(host, "tampered");

        var result = await Curl.RunAsync(folder.FullName, "--fail", "-o", "out.bin", "-H", KeyHeader(file), host.FileUrl(file));

        Assert.NotEqual(0, result.ExitCode);
        var received = File.Exists(Path.Combine(folder.FullName, "out.bin"))
            ? await File.ReadAllBytesAsync(Path.Combine(folder.FullName, "out.bin"), TestContext.Current.CancellationToken)
            : [];
        Assert.True(received.Length <= 3 * RecordFormat.RecordSize, $"received {received.Length} bytes, past the records before the bad one");
        Assert.Equal(original.AsSpan(0, received.Length).ToArray(), received);
        Assert.Equal(1, host.Metrics.FailedMacs);
        Assert.Equal(0, host.Metrics.Downloads);
        Assert.Contains(host.Logs.Lines, line => line.Contains(file.Cid, StringComparison.Ordinal) && line.Contains("failed authentication", StringComparison.Ordinal));
        var record = await host.Index.FindByCidAsync(file.Cid, TestContext.Current.CancellationToken);
        Assert.Equal(0, record!.Downloads);
    }

    [Fact]
    public async Task WrongOrMalformedKeyIsForbidden()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(200_000), "secret.bin");
        var folder = TestFiles.Scratch(host, "403");
        var otherKey = LinkKeyText.Encode(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

        var wrong = await Curl.RunAsync(folder.FullName, "-o", "body.txt", "-w", "%{http_code}", "-H", "X-Detach-Key: " + otherKey, host.FileUrl(file));
        var wrongBody = await File.ReadAllTextAsync(Path.Combine(folder.FullName, "body.txt"), TestContext.Current.CancellationToken);
        var malformed = await Curl.RunAsync(folder.FullName, "-o", "body2.txt", "-w", "%{http_code}", "-H", "X-Detach-Key: not-a-key", host.FileUrl(file));
        var missing = await Curl.RunAsync(folder.FullName, "-o", "body3.txt", "-w", "%{http_code}", host.FileUrl(file));

        Assert.Equal("403", wrong.StandardOutput);
        Assert.Contains("not right for this file", wrongBody, StringComparison.Ordinal);
        Assert.Equal("403", malformed.StandardOutput);
        Assert.Equal("403", missing.StandardOutput);
        Assert.Equal(3, host.Metrics.KeyRejections);
        Assert.Equal(0, host.Metrics.DownloadBytes);
    }

    [Fact]
    public async Task UnknownCidIsNotFound()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var folder = TestFiles.Scratch(host, "404");
        var unknown = Cid.Compute(Cid.RawCodec, TestFiles.RandomBytes(100)).ToString();
        var key = LinkKeyText.Encode(new byte[32]);

        var known = await Curl.RunAsync(folder.FullName, "-o", "body.txt", "-w", "%{http_code}", "-H", "X-Detach-Key: " + key, $"{host.BaseUrl}/d/{unknown}/file");
        var garbage = await Curl.RunAsync(folder.FullName, "-o", "body2.txt", "-w", "%{http_code}", "-H", "X-Detach-Key: " + key, $"{host.BaseUrl}/d/not-a-cid/file");

        Assert.Equal("404", known.StandardOutput);
        Assert.Equal("404", garbage.StandardOutput);
    }

    [Fact]
    public async Task RevokedFileIsGoneWithTheDateAndSenderDomain()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(5000), "withdrawn.bin", senderDomain: "sender.example");
        var revokedAt = new DateTimeOffset(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
        await host.Index.RevokeAsync(file.Cid, "revoked by sender", revokedAt, TestContext.Current.CancellationToken);
        var folder = TestFiles.Scratch(host, "410");

        var result = await Curl.RunAsync(folder.FullName, "-o", "page.html", "-w", "%{http_code}", "-H", "Accept: text/html",
            "-H", "X-Detach-Key: " + file.LinkKey, host.FileUrl(file));

        Assert.Equal("410", result.StandardOutput);
        var page = await File.ReadAllTextAsync(Path.Combine(folder.FullName, "page.html"), TestContext.Current.CancellationToken);
        Assert.Contains("<!doctype html>", page, StringComparison.Ordinal);
        Assert.Contains("2026-11-20 14:30 UTC", page, StringComparison.Ordinal);
        Assert.Contains("sender.example", page, StringComparison.Ordinal);
        Assert.DoesNotContain(file.LinkKey, page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredFileIsGoneEvenBeforeTheSweepErasesItsKey()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var expiredAt = new DateTimeOffset(2026, 1, 2, 3, 4, 0, TimeSpan.Zero);
        var file = await host.StoreAsync(TestFiles.RandomBytes(5000), "old.bin", expiresAt: expiredAt, senderDomain: "old.example");
        var folder = TestFiles.Scratch(host, "expired");

        var result = await Curl.RunAsync(folder.FullName, "-o", "page.txt", "-w", "%{http_code}", "-H", "X-Detach-Key: " + file.LinkKey, host.FileUrl(file));

        Assert.Equal("410", result.StandardOutput);
        var text = await File.ReadAllTextAsync(Path.Combine(folder.FullName, "page.txt"), TestContext.Current.CancellationToken);
        Assert.Contains("2026-01-02 03:04 UTC", text, StringComparison.Ordinal);
        Assert.Contains("old.example", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachableStorageAnswers503WithRetryAfter()
    {
        FailingStore? failing = null;
        await using var host = await GatewayTestHost.StartAsync(wrapStore: inner => failing = new FailingStore(inner));
        var file = await host.StoreAsync(TestFiles.RandomBytes(5000), "later.bin");
        failing!.Down = true;
        var folder = TestFiles.Scratch(host, "503");

        var result = await Curl.RunAsync(folder.FullName, "-o", "body.txt", "--dump-header", "headers.txt", "-H", "X-Detach-Key: " + file.LinkKey, host.FileUrl(file));

        Assert.Equal(0, result.ExitCode);
        var (status, headers) = Curl.ReadHeaderDump(Path.Combine(folder.FullName, "headers.txt"));
        Assert.Equal(503, status);
        Assert.True(int.Parse(headers["Retry-After"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public async Task DownloadLimitCountsOnlyCompletedWholeDownloads()
    {
        await using var host = await GatewayTestHost.StartAsync(options => options.MaxDownloadsPerLink = 1);
        var original = TestFiles.RandomBytes(300_000);
        var file = await host.StoreAsync(original, "once.bin");
        var folder = TestFiles.Scratch(host, "limit");

        var head = await Curl.RunAsync(folder.FullName, "--head", "-o", "head.txt", "-w", "%{http_code}", "-H", KeyHeader(file), host.FileUrl(file));
        var range = await Curl.RunAsync(folder.FullName, "-o", "r.bin", "-w", "%{http_code}", "-r", "0-99", "-H", KeyHeader(file), host.FileUrl(file));
        var first = await Curl.RunAsync(folder.FullName, "-o", "1.bin", "-w", "%{http_code}", "-H", KeyHeader(file), host.FileUrl(file));
        await host.CountedAsync(file, 1);
        var second = await Curl.RunAsync(folder.FullName, "-o", "2.bin", "-w", "%{http_code}", "-H", KeyHeader(file), host.FileUrl(file));

        Assert.Equal("200", head.StandardOutput);
        Assert.Equal("206", range.StandardOutput);
        Assert.Equal("200", first.StandardOutput);
        Assert.Equal(TestFiles.Sha256(original), TestFiles.Sha256OfFile(Path.Combine(folder.FullName, "1.bin")));
        Assert.Equal("410", second.StandardOutput);
    }

    /// <summary>The real local store until <see cref="Down"/> is set, then a backend that cannot be reached.</summary>
    private sealed class FailingStore(IContentStore inner) : IContentStore
    {
        public bool Down { get; set; }

        public Task<StoredContent> AddAsync(Stream content, CancellationToken cancellationToken) => Down ? throw Unavailable() : inner.AddAsync(content, cancellationToken);

        public Task<Stream> OpenReadAsync(Cid cid, long offset, long? length, CancellationToken cancellationToken) =>
            Down ? throw Unavailable() : inner.OpenReadAsync(cid, offset, length, cancellationToken);

        public Task<long?> GetSizeAsync(Cid cid, CancellationToken cancellationToken) => Down ? throw Unavailable() : inner.GetSizeAsync(cid, cancellationToken);

        public Task RemoveAsync(Cid cid, CancellationToken cancellationToken) => Down ? throw Unavailable() : inner.RemoveAsync(cid, cancellationToken);

        public Task<bool> IsAvailableAsync(CancellationToken cancellationToken) => Down ? throw Unavailable() : inner.IsAvailableAsync(cancellationToken);

        private static StorageUnavailableException Unavailable() => new("The IPFS node at http://127.0.0.1:5001 refused the connection.");
    }
}
