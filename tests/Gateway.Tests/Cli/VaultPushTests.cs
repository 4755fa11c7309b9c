using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;
using Detach.Vault.Storage;
using Detach.Vault.Tests.Storage;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// An operator starts on the embedded store, then moves to an IPFS node: `detach vault push` copies the objects
/// as CARs, and links sent before the move decrypt from the node (same CIDs).
/// </summary>
public sealed class VaultPushTests(IpfsNodeFixture node) : IClassFixture<IpfsNodeFixture>
{
    [Fact]
    public async Task Links_made_on_the_local_store_work_from_the_node_after_a_push()
    {
        node.RequireNode();
        using var data = new DataFolder();
        var ct = TestContext.Current.CancellationToken;
        var attachment = DataFolder.RandomBytes(600_000, 30);
        var local = data.Settings();
        var output = new MemoryStream();
        Assert.Equal(ExitCodes.Ok, await FilterCommand.RunAsync(local, new MemoryStream(DataFolder.MessageWith(attachment)), output, [],
            new MessageEnvelope("ann@example.com", 2), TextWriter.Null, ct));
        var link = Assert.Single(DataFolder.Links(Encoding.UTF8.GetString(output.ToArray())));
        var cid = Cid.Parse(link.Split("/d/")[1].Split('#')[0]);

        var withNode = data.Settings($"Vault:IpfsApiUrl={node.ApiUrl}", "Vault:WhenNodeDown=TempFail");
        await using (var components = await VaultComponents.OpenAsync(withNode, ct))
        {
            var progress = new StringWriter();
            Assert.Equal(1, await components.PushLocalToNodeAsync(progress, ct));
            Assert.Contains($"pushed {cid}", progress.ToString(), StringComparison.Ordinal);
            Assert.NotEmpty(await components.Kubo!.PinLsAsync(cid, ct));
        }

        // The local copy is out of the way: what decrypts now comes from the node.
        var target = Path.Combine(data.Path, "from-node.bin");
        Directory.Move(Path.Combine(data.Path, "store"), Path.Combine(data.Path, "store.moved"));
        var error = new StringWriter();
        Assert.True(await FetchCommand.RunAsync(withNode, link, new FileInfo(target), error, ct) == ExitCodes.Ok, error.ToString());
        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await File.ReadAllBytesAsync(target, ct)));
    }
}
