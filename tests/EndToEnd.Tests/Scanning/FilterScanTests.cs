using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>`detach filter` (Postfix's pipe transport) with the real clamd: exit codes Postfix understands.</summary>
public sealed class FilterScanTests : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("detach-e2e-filter-scan-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Delete(recursive: true);

    private DetachSettings Settings(ClamdInstance clamd) =>
        DetachSettings.Load(DetachConfiguration.Build(null, [$"DataPath={_data.FullName}", $"Scan:Clamd={clamd.TcpEndpoint}", "Scan:TimeoutSeconds=10"]));

    private async Task<(int Exit, string Output, string Error)> FilterAsync(DetachSettings settings, byte[] message)
    {
        var output = new MemoryStream();
        using var error = new StringWriter();
        var exit = await FilterCommand.RunAsync(settings, new MemoryStream(message), output, [], new MessageEnvelope("ann@example.test", 1), error, Token);
        return (exit, System.Text.Encoding.ASCII.GetString(output.ToArray()), error.ToString());
    }

    [Fact]
    public async Task Eicar_exits_77_naming_the_signature_with_nothing_stored_clean_mail_exits_0_and_a_stopped_clamd_exits_75()
    {
        PeerBinaries.RequireClamd();
        await using var clamd = await ClamdInstance.StartAsync(Token);
        var settings = Settings(clamd);

        var infected = await FilterAsync(settings, ScanSamples.MessageWithAttachment("invoice.pdf", EicarTestFile.Padded(16 * 1024), messageId: "<filter-eicar@e2e.example.test>"));

        Assert.Equal(77, infected.Exit);
        Assert.Contains("554 5.7.1", infected.Error, StringComparison.Ordinal);
        Assert.Contains(EicarTestFile.SignatureName, infected.Error, StringComparison.Ordinal);
        Assert.Empty(infected.Output);

        var clean = await FilterAsync(settings, ScanSamples.MessageWithAttachment("photo.jpg", System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024), messageId: "<filter-clean@e2e.example.test>"));
        Assert.True(clean.Exit == 0, clean.Error);
        Assert.Single(DeliveredMail.FromBytes(System.Text.Encoding.ASCII.GetBytes(clean.Output)).Links);

        await clamd.StopAsync();
        var down = await FilterAsync(settings, ScanSamples.MessageWithAttachment("photo.jpg", System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024), messageId: "<filter-down@e2e.example.test>"));
        Assert.Equal(75, down.Exit);
        Assert.Contains("451 4.3.0", down.Error, StringComparison.Ordinal);

        await using var vault = await VaultComponents.OpenAsync(settings, Token);
        Assert.Empty(await vault.Index.FindByMessageIdAsync("<filter-eicar@e2e.example.test>", Token));
        Assert.Empty(await vault.Index.FindByMessageIdAsync("<filter-down@e2e.example.test>", Token));
        var objects = new List<Detach.Vault.Storage.Cid>();
        await foreach (var cid in vault.Local.ListAsync(Token))
        {
            objects.Add(cid);
        }

        Assert.Single(objects);
    }
}
