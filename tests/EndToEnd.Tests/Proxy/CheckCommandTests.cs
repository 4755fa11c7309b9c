using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using IpfsNodeFixture = Detach.Vault.Tests.Storage.IpfsNodeFixture;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>`detach check` against the real services: Postfix's two smtpd services, a closed port, the IPFS node up and down.</summary>
[Collection(SerialProxyCollection.Name)]
public sealed class CheckCommandTests(IpfsNodeFixture node) : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("detach-e2e-check-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Delete(recursive: true);

    private Task<IReadOnlyList<CheckCommand.CheckResult>> CheckAsync(params string[] settings) =>
        CheckCommand.RunAsync(
            DetachSettings.Load(DetachConfiguration.Build(null, [$"DataPath={_data.FullName}", "PublicUrl=https://files.example.test", .. settings])),
            Token);

    private static CheckCommand.CheckResult Row(IReadOnlyList<CheckCommand.CheckResult> results, string name) =>
        results.Single(r => r.Name == name);

    [Fact]
    public async Task Next_hop_checks_postfix_xforward_a_closed_port_and_an_smtpd_that_does_not_trust_us()
    {
        PeerBinaries.RequirePostfix();
        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.WithFilter(FreePort.Next()), Token);

        var reinject = await CheckAsync($"Smtp:NextHop=smtp://127.0.0.1:{postfix.ReinjectPort}");
        var ok = Row(reinject, "next hop");
        Assert.True(ok.Ok, ok.Detail);
        Assert.Contains("XFORWARD", ok.Detail, StringComparison.Ordinal);
        Assert.Contains("ADDR", ok.Detail, StringComparison.Ordinal);
        Assert.All(reinject, r => Assert.True(r.Ok, $"{r.Name}: {r.Detail}"));

        var closedPort = FreePort.Next();
        var closed = Row(await CheckAsync($"Smtp:NextHop=smtp://127.0.0.1:{closedPort}"), "next hop");
        Assert.False(closed.Ok);
        Assert.Contains($"127.0.0.1:{closedPort}", closed.Detail, StringComparison.Ordinal);

        // The inbound smtpd has no smtpd_authorized_xforward_hosts: it answers but never announces XFORWARD.
        var untrusting = Row(await CheckAsync($"Smtp:NextHop=smtp://127.0.0.1:{postfix.InboundPort}"), "next hop");
        Assert.False(untrusting.Ok);
        Assert.Contains("smtpd_authorized_xforward_hosts", untrusting.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_check_passes_with_the_ipfs_node_up_and_fails_with_it_down()
    {
        node.RequireNode();
        await node.EnsureRunningAsync();
        var ipfs = new[] { $"Vault:IpfsApiUrl={node.ApiUrl.AbsoluteUri.TrimEnd('/')}", "Vault:WhenNodeDown=TempFail", "Vault:IpfsTimeoutSeconds=10" };

        var up = Row(await CheckAsync(ipfs), "store");
        Assert.True(up.Ok, up.Detail);
        Assert.Contains("IPFS node", up.Detail, StringComparison.Ordinal);

        node.Kill();
        try
        {
            var down = Row(await CheckAsync(ipfs), "store");
            Assert.False(down.Ok, down.Detail);
            Assert.Contains(node.ApiUrl.AbsoluteUri.TrimEnd('/'), down.Detail, StringComparison.Ordinal);
        }
        finally
        {
            await node.StartAsync();
        }
    }

    [Fact]
    public async Task Standalone_setup_checks_ok_with_the_local_store_and_the_maildir()
    {
        var results = await CheckAsync();
        Assert.All(results, r => Assert.True(r.Ok, $"{r.Name}: {r.Detail}"));
        Assert.Contains("Maildir", Row(results, "next hop").Detail, StringComparison.Ordinal);
        Assert.Contains("local store", Row(results, "store").Detail, StringComparison.Ordinal);
    }
}
