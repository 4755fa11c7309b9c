using Detach.Gateway.Configuration;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Hosting;

/// <summary>
/// The vault as configured: the store (local, or the IPFS node with a local spool for when it is down),
/// the migrated index, and the <see cref="AttachmentVault"/> over both. Every command opens it the same way.
/// </summary>
public sealed class VaultComponents : IAsyncDisposable
{
    private readonly HttpClient? http;

    private VaultComponents(IContentStore store, LocalContentStore local, IAttachmentIndex index, AttachmentVault vault, KuboClient? kubo, SpoolPusher? spool, HttpClient? http)
    {
        Store = store;
        Local = local;
        Index = index;
        Vault = vault;
        Kubo = kubo;
        Spool = spool;
        this.http = http;
    }

    public IContentStore Store { get; }

    /// <summary>The embedded store: the store itself, or the spool in front of the IPFS node.</summary>
    public LocalContentStore Local { get; }

    public IAttachmentIndex Index { get; }

    public AttachmentVault Vault { get; }

    public KuboClient? Kubo { get; }

    public SpoolPusher? Spool { get; }

    public static async Task<VaultComponents> OpenAsync(DetachSettings settings, CancellationToken cancellationToken, ILoggerFactory? loggers = null)
    {
        loggers ??= NullLoggerFactory.Instance;
        var dataPath = settings.Root.FullDataPath;
        Directory.CreateDirectory(dataPath);
        var local = new LocalContentStore(Path.Combine(dataPath, "store"));

        KuboClient? kubo = null;
        PendingUnpins? unpins = null;
        HttpClient? http = null;
        IContentStore store = local;
        if (settings.Vault.EffectiveStore == StoreKind.Ipfs)
        {
            var options = new KuboOptions
            {
                ApiUrl = new Uri(settings.Vault.IpfsApiUrl!),
                RequestTimeout = TimeSpan.FromSeconds(settings.Vault.IpfsTimeoutSeconds),
            };
            http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            kubo = new KuboClient(http, Options.Create(options), loggers.CreateLogger<KuboClient>());
            // With the node in front, the local store holds only what the node could not take yet.
            local = new LocalContentStore(Path.Combine(dataPath, "spool"));
            unpins = new PendingUnpins(Path.Combine(dataPath, "unpin"));
            store = new SpoolingContentStore(new KuboContentStore(kubo), local, settings.Vault.WhenNodeDown, loggers.CreateLogger<SpoolingContentStore>(), unpins);
        }

        var index = AttachmentIndexFactory.Create(settings.Index, dataPath, TimeProvider.System, loggers);
        try
        {
            await index.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await index.DisposeAsync().ConfigureAwait(false);
            http?.Dispose();
            throw;
        }

        // With the index, the pusher drops what another instance revoked while only this spool held it.
        var spool = kubo is null ? null : new SpoolPusher(local, kubo, index, unpins, loggers.CreateLogger<SpoolPusher>());

        var vault = new AttachmentVault(store, index,
            new AttachmentVaultOptions
            {
                PublicUrl = settings.Root.PublicUrl,
                Retention = TimeSpan.FromDays(settings.Vault.RetentionDays),
                RetentionBySenderDomain = settings.Vault.RetentionDaysBySenderDomain.ToDictionary(p => p.Key, p => TimeSpan.FromDays(p.Value), StringComparer.OrdinalIgnoreCase),
                NotifySenderFor = settings.Gateway.NotifiesSender,
            },
            TimeProvider.System, loggers.CreateLogger<AttachmentVault>());
        return new VaultComponents(store, local, index, vault, kubo, spool, http);
    }

    /// <summary>
    /// `detach vault push`: copies every object of the embedded store to the node as a CAR (dag/import) and pins
    /// it. CIDs are the same on both, so the links already sent keep working; the local copy is kept.
    /// </summary>
    public async Task<int> PushLocalToNodeAsync(TextWriter progress, CancellationToken cancellationToken)
    {
        if (Kubo is null)
        {
            throw new ConfigurationException("vault push needs the IPFS node: set Vault:IpfsApiUrl (DETACH__Vault__IpfsApiUrl).");
        }

        // With the node configured, the embedded store of the standalone setup is {DataPath}/store.
        var embedded = new LocalContentStore(Path.Combine(Path.GetDirectoryName(Local.Root)!, "store"));
        var exporter = new CarExporter(embedded);
        var pushed = 0;
        await foreach (var cid in embedded.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            var roots = await Kubo.DagImportAsync((car, ct) => exporter.WriteAsync(cid, car, ct), cancellationToken).ConfigureAwait(false);
            if (!roots.Contains(cid))
            {
                throw new InvalidDataException($"The node imported {string.Join(", ", roots)} instead of {cid}.");
            }

            await Kubo.PinAddAsync(cid, cancellationToken).ConfigureAwait(false);
            await progress.WriteLineAsync($"pushed {cid}").ConfigureAwait(false);
            pushed++;
        }

        return pushed;
    }

    public async ValueTask DisposeAsync()
    {
        await Index.DisposeAsync().ConfigureAwait(false);
        http?.Dispose();
    }
}
