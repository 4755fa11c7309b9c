using System.Security.Cryptography;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Scanning;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>The clamd client against the real clamd (Debian's clamav-daemon) with the EICAR test signature.</summary>
public sealed class ClamdClientTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Eicar_is_found_over_tcp_and_over_the_unix_socket_and_clean_content_is_clean()
    {
        await using var clamd = await ClamdInstance.StartAsync(Token);

        foreach (var endpoint in new[] { clamd.TcpEndpoint, clamd.UnixEndpoint })
        {
            var client = clamd.Client(endpoint);
            Assert.True(await client.PingAsync(Token));
            Assert.StartsWith("ClamAV ", await client.VersionAsync(Token), StringComparison.Ordinal);

            var infected = await client.ScanAsync(new MemoryStream(EicarTestFile.Padded(300 * 1024)), Token);
            Assert.Equal(EicarTestFile.SignatureName, infected.Signature);

            var clean = await client.ScanAsync(new MemoryStream(RandomNumberGenerator.GetBytes(300 * 1024)), Token);
            Assert.False(clean.Infected, clean.Signature);
            Assert.Equal(300 * 1024, clean.ScannedBytes);
        }
    }

    [Fact]
    public async Task Clamd_unpacks_zips_and_messages_itself()
    {
        await using var clamd = await ClamdInstance.StartAsync(Token);
        await using var archivesOff = await ClamdInstance.StartAsync(new ClamdOptions { ScanArchive = false }, Token);
        var zip = ScanSamples.ZipWithEicar();

        Assert.Equal(EicarTestFile.SignatureName, (await clamd.Client().ScanAsync(new MemoryStream(zip), Token)).Signature);
        Assert.Equal(EicarTestFile.SignatureName,
            (await clamd.Client().ScanAsync(new MemoryStream(ScanSamples.MessageWithAttachment("tools.zip", zip)), Token)).Signature);

        // The deflated test file is found only because clamd opened the archive.
        Assert.False((await archivesOff.Client().ScanAsync(new MemoryStream(zip), Token)).Infected);
    }

    [Fact]
    public async Task Content_over_MaxStreamBytes_is_scanned_up_to_it_and_a_clamd_with_a_smaller_StreamMaxLength_says_so()
    {
        await using var clamd = await ClamdInstance.StartAsync(new ClamdOptions { StreamMaxLength = 1024 * 1024 }, Token);
        var content = EicarTestFile.Padded(3 * 1024 * 1024);

        var verdict = await clamd.Client(maxStreamBytes: 1024 * 1024).ScanAsync(new MemoryStream(content), Token);
        Assert.True(verdict.Truncated);
        Assert.Equal(EicarTestFile.SignatureName, verdict.Signature);

        var refused = await Assert.ThrowsAsync<ScannerException>(() =>
            clamd.Client(maxStreamBytes: 8 * 1024 * 1024).ScanAsync(new MemoryStream(content), Token));
        Assert.Contains("INSTREAM size limit exceeded", refused.Message, StringComparison.Ordinal);
        Assert.Contains("StreamMaxLength", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stopped_clamd_is_a_scanner_error_and_a_restarted_one_scans_again()
    {
        await using var clamd = await ClamdInstance.StartAsync(Token);
        await clamd.StopAsync();

        await Assert.ThrowsAsync<ScannerException>(() => clamd.Client().ScanAsync(new MemoryStream(new byte[1000]), Token));
        await Assert.ThrowsAsync<ScannerException>(() => clamd.Client(clamd.UnixEndpoint).ScanAsync(new MemoryStream(new byte[1000]), Token));

        await clamd.StartAgainAsync(Token);
        Assert.False((await clamd.Client().ScanAsync(new MemoryStream(new byte[1000]), Token)).Infected);
    }
}
