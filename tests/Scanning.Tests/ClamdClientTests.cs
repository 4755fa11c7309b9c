using System.Security.Cryptography;

namespace Detach.Scanning.Tests;

public sealed class ClamdClientTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Instream_sends_the_content_in_length_prefixed_chunks_and_a_zero_length_end()
    {
        var content = RandomNumberGenerator.GetBytes(200 * 1024 + 17);
        byte[]? received = null;
        List<int>? chunks = null;
        string? command = null;
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            command = await c.ReadCommandAsync();
            (received, chunks) = await c.ReadStreamAsync();
            await c.ReplyAsync("stream: OK");
        });

        var verdict = await clamd.Client().ScanAsync(new MemoryStream(content), Token);

        Assert.Equal("zINSTREAM", command);
        Assert.Equal(content, received);
        Assert.All(chunks!, size => Assert.InRange(size, 1, 64 * 1024));
        Assert.False(verdict.Infected);
        Assert.False(verdict.Truncated);
        Assert.Equal(content.Length, verdict.ScannedBytes);
    }

    [Fact]
    public async Task A_found_reply_names_the_signature()
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadStreamAsync();
            await c.ReplyAsync("stream: Win.Test.EICAR_HDB-1 FOUND");
        });

        var verdict = await clamd.Client().ScanAsync(new MemoryStream(new byte[100]), Token);

        Assert.True(verdict.Infected);
        Assert.Equal("Win.Test.EICAR_HDB-1", verdict.Signature);
    }

    [Fact]
    public async Task Content_longer_than_the_limit_is_scanned_up_to_it_and_the_rest_is_left_unread()
    {
        const int Limit = 100 * 1024;
        var content = new MemoryStream(RandomNumberGenerator.GetBytes(3 * Limit));
        byte[]? received = null;
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            (received, _) = await c.ReadStreamAsync();
            await c.ReplyAsync("stream: OK");
        });

        var verdict = await clamd.Client(maxStreamBytes: Limit, chunkBytes: 48 * 1024).ScanAsync(content, Token);

        Assert.Equal(Limit, received!.Length);
        Assert.Equal(content.ToArray().AsSpan(0, Limit).ToArray(), received);
        Assert.True(verdict.Truncated);
        Assert.Equal(Limit, verdict.ScannedBytes);
        Assert.Equal(Limit + 1, content.Position);
    }

    [Fact]
    public async Task Content_exactly_at_the_limit_is_not_truncated()
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadStreamAsync();
            await c.ReplyAsync("stream: OK");
        });

        var verdict = await clamd.Client(maxStreamBytes: 1000).ScanAsync(new MemoryStream(new byte[1000]), Token);

        Assert.False(verdict.Truncated);
        Assert.Equal(1000, verdict.ScannedBytes);
    }

    [Fact]
    public async Task Clamd_refusing_a_stream_over_its_StreamMaxLength_is_a_scanner_error_that_says_which_limit_to_change()
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadChunkAsync();
            await c.ReplyAsync("INSTREAM size limit exceeded. ERROR");
        });

        // Enough content that the client is still sending when clamd hangs up.
        var error = await Assert.ThrowsAsync<ScannerException>(() =>
            clamd.Client(chunkBytes: 16 * 1024).ScanAsync(new MemoryStream(new byte[64 * 1024 * 1024]), Token));

        Assert.Contains("size limit exceeded", error.Message, StringComparison.Ordinal);
        Assert.Contains("StreamMaxLength", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("stream: Can't allocate memory ERROR")]
    [InlineData("UNKNOWN COMMAND")]
    public async Task An_error_or_unexpected_reply_is_a_scanner_error_quoting_clamd(string reply)
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadStreamAsync();
            await c.ReplyAsync(reply);
        });

        var error = await Assert.ThrowsAsync<ScannerException>(() => clamd.Client().ScanAsync(new MemoryStream(new byte[10]), Token));

        Assert.Contains(reply, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clamd_that_never_answers_times_out_as_a_scanner_error()
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadStreamAsync();
            await c.StayQuietAsync();
        });

        var error = await Assert.ThrowsAsync<ScannerException>(() =>
            clamd.Client(timeout: TimeSpan.FromMilliseconds(300)).ScanAsync(new MemoryStream(new byte[10]), Token));

        Assert.Contains("did not answer within", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_closed_without_a_reply_is_a_scanner_error()
    {
        await using var clamd = FakeClamd.StartTcp(async c =>
        {
            await c.ReadCommandAsync();
            await c.ReadStreamAsync();
        });

        await Assert.ThrowsAsync<ScannerException>(() => clamd.Client().ScanAsync(new MemoryStream(new byte[10]), Token));
    }

    [Fact]
    public async Task Nothing_listening_is_a_scanner_error()
    {
        string endpoint;
        await using (var gone = FakeClamd.StartTcp(_ => Task.CompletedTask))
        {
            endpoint = gone.Endpoint;
        }

        Assert.True(ClamdEndpoint.TryParse(endpoint, out var parsed, out _));
        var client = new ClamdClient(new ClamdClientOptions { Endpoint = parsed });

        var error = await Assert.ThrowsAsync<ScannerException>(() => client.ScanAsync(new MemoryStream(new byte[10]), Token));
        Assert.Contains(endpoint, error.Message, StringComparison.Ordinal);
        Assert.False(await Record.ExceptionAsync(() => client.PingAsync(Token)) is null);
    }

    [Fact]
    public async Task Ping_and_version_over_a_unix_socket()
    {
        var folder = Directory.CreateTempSubdirectory("detach-fake-clamd-");
        try
        {
            await using var clamd = FakeClamd.StartUnix(Path.Combine(folder.FullName, "clamd.ctl"), async c =>
            {
                var command = await c.ReadCommandAsync();
                await c.ReplyAsync(command == "zPING" ? "PONG" : command == "zVERSION" ? "ClamAV 1.4.6/27850/Mon Dec  1 09:28:02 2026" : "UNKNOWN COMMAND");
            });

            Assert.True(await clamd.Client().PingAsync(Token));
            Assert.Equal("ClamAV 1.4.6/27850/Mon Dec  1 09:28:02 2026", await clamd.Client().VersionAsync(Token));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("stream: OK", null)]
    [InlineData("OK", null)]
    [InlineData("stream: Eicar-Test-Signature FOUND", "Eicar-Test-Signature")]
    [InlineData("stream: Detach.Test.EICAR.UNOFFICIAL FOUND", "Detach.Test.EICAR.UNOFFICIAL")]
    [InlineData("stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND", "Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68)")]
    public void Scan_replies_parse_to_verdicts(string reply, string? signature)
    {
        var verdict = ClamdClient.ParseScanReply(reply, 10, truncated: false);
        Assert.Equal(signature, verdict.Signature);
    }

    [Theory]
    [InlineData("tcp://127.0.0.1:3310", "tcp://127.0.0.1:3310")]
    [InlineData(" tcp://clamav:3310 ", "tcp://clamav:3310")]
    [InlineData("tcp://[::1]:3310", "tcp://[::1]:3310")]
    [InlineData("unix:/run/clamav/clamd.ctl", "unix:/run/clamav/clamd.ctl")]
    public void Endpoints_parse(string text, string expected)
    {
        Assert.True(ClamdEndpoint.TryParse(text, out var endpoint, out var error), error);
        Assert.Equal(expected, endpoint.Text);
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1:3310")]
    [InlineData("tcp://127.0.0.1")]
    [InlineData("tcp://127.0.0.1:0")]
    [InlineData("tcp://127.0.0.1:70000")]
    [InlineData("tcp://127.0.0.1:3310/scan")]
    [InlineData("http://127.0.0.1:3310")]
    [InlineData("unix:run/clamd.ctl")]
    [InlineData("unix:")]
    public void Bad_endpoints_are_refused_with_what_is_expected(string text)
    {
        Assert.False(ClamdEndpoint.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }
}
