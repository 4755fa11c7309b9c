using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>`detach check` probes the scanner: the real clamd up (TCP and unix socket), stopped, and none configured.</summary>
public sealed class CheckScannerTests : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("detach-e2e-check-scan-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Delete(recursive: true);

    private async Task<CheckCommand.CheckResult> ScannerRowAsync(params string[] settings) =>
        (await CheckCommand.RunAsync(DetachSettings.Load(DetachConfiguration.Build(null, [$"DataPath={_data.FullName}", .. settings])), Token))
            .Single(r => r.Name == "scanner");

    [Fact]
    public async Task The_scanner_row_passes_with_clamd_up_fails_with_it_stopped_and_says_none_without_Scan_Clamd()
    {
        PeerBinaries.RequireClamd();
        await using var clamd = await ClamdInstance.StartAsync(Token);

        foreach (var endpoint in new[] { clamd.TcpEndpoint, clamd.UnixEndpoint })
        {
            var up = await ScannerRowAsync($"Scan:Clamd={endpoint}");
            Assert.True(up.Ok, up.Detail);
            Assert.Contains("ClamAV", up.Detail, StringComparison.Ordinal);
            Assert.Contains(endpoint, up.Detail, StringComparison.Ordinal);
        }

        await clamd.StopAsync();
        var down = await ScannerRowAsync($"Scan:Clamd={clamd.TcpEndpoint}", "Scan:TimeoutSeconds=5");
        Assert.False(down.Ok);
        Assert.Contains(clamd.TcpEndpoint, down.Detail, StringComparison.Ordinal);

        var none = await ScannerRowAsync();
        Assert.True(none.Ok);
        Assert.Contains("Scan:Clamd is empty", none.Detail, StringComparison.Ordinal);
    }
}
