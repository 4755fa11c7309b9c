using Detach.Gateway.Configuration;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Hosting;

/// <summary>
/// The vault as configured: the store (local, or the IPFS node with a local spool for when it is down), the index,
/// and the <see cref="AttachmentVault"/> over both, as <see cref="VaultServiceCollectionExtensions.AddDetachVault"/>
/// registers them. `detach serve` resolves it from its host; the other commands open it with <see cref="OpenAsync"/>.
/// </summary>
public sealed class VaultComponents(
    IContentStore store,
    LocalContentStore local,
    IAttachmentIndex index,
    AttachmentVault vault,
    KuboClient? kubo = null,
    SpoolPusher? spool = null) : IAsyncDisposable
{
    // The provider OpenAsync built for a command; null when the host owns everything.
    private IAsyncDisposable? owner;

    public IContentStore Store => store;

    /// <summary>The embedded store: the store itself, or the spool in front of the IPFS node.</summary>
    public LocalContentStore Local => local;

    public IAttachmentIndex Index => index;

    public AttachmentVault Vault => vault;

    public KuboClient? Kubo => kubo;

    public SpoolPusher? Spool => spool;

    /// <summary>The vault for one command, migrated; disposing it closes the index and the node's client.</summary>
    public static async Task<VaultComponents> OpenAsync(DetachSettings settings, CancellationToken cancellationToken)
    {
        var provider = new ServiceCollection().AddLogging().AddDetachVault(settings).BuildServiceProvider();
        try
        {
            var components = provider.GetRequiredService<VaultComponents>();
            await components.Index.MigrateAsync(cancellationToken).ConfigureAwait(false);
            components.owner = provider;
            return components;
        }
        catch
        {
            await provider.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// `detach vault push`: copies every object of the embedded store to the node as a CAR (dag/import) and pins
    /// it. CIDs are the same on both, so the links already sent keep working; the local copy is kept.
    /// </summary>
    public async Task<int> PushLocalToNodeAsync(TextWriter progress, CancellationToken cancellationToken)
    {
        if (kubo is null)
        {
            throw new ConfigurationException("vault push needs the IPFS node: set Vault:IpfsApiUrl (DETACH__Vault__IpfsApiUrl).");
        }

        // With the node configured, the embedded store of the standalone setup is {DataPath}/store.
        var embedded = new LocalContentStore(Path.Combine(Path.GetDirectoryName(local.Root)!, "store"));
        var exporter = new CarExporter(embedded);
        var pushed = 0;
        await foreach (var cid in embedded.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            var roots = await kubo.DagImportAsync((car, ct) => exporter.WriteAsync(cid, car, ct), cancellationToken).ConfigureAwait(false);
            if (!roots.Contains(cid))
            {
                throw new InvalidDataException($"The node imported {string.Join(", ", roots)} instead of {cid}.");
            }

            await kubo.PinAddAsync(cid, cancellationToken).ConfigureAwait(false);
            await progress.WriteLineAsync($"pushed {cid}").ConfigureAwait(false);
            pushed++;
        }

        return pushed;
    }

    public async ValueTask DisposeAsync()
    {
        // The provider disposes this object too: taking the reference first ends that recursion.
        if (Interlocked.Exchange(ref owner, null) is { } provider)
        {
            await provider.DisposeAsync().ConfigureAwait(false);
        }
    }
}
