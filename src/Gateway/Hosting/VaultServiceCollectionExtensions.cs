using Detach.Gateway.Configuration;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Hosting;

/// <summary>The vault as configured, for dependency injection: `detach serve` and every command build it this one way.</summary>
public static class VaultServiceCollectionExtensions
{
    /// <summary>
    /// Registers the store (the embedded one, or the IPFS node with a local spool for when it is down), the index
    /// (and the sender-notice queue in its database), the <see cref="AttachmentVault"/> over both, and
    /// <see cref="VaultComponents"/>. Nothing is opened or migrated
    /// here: the index is migrated by <see cref="VaultComponents.OpenAsync"/>, or in the host's starting phase
    /// (<see cref="IndexMigrationService"/>).
    /// </summary>
    public static IServiceCollection AddDetachVault(this IServiceCollection services, DetachSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var dataPath = settings.Root.FullDataPath;
        services.TryAddSingleton(TimeProvider.System);
        if (settings.Vault.EffectiveStore == StoreKind.Ipfs)
        {
            services.AddKuboClient(o =>
            {
                o.ApiUrl = new Uri(settings.Vault.IpfsApiUrl!);
                o.RequestTimeout = TimeSpan.FromSeconds(settings.Vault.IpfsTimeoutSeconds);
            });

            // With the node in front, the local store holds only what the node could not take yet.
            services.AddSingleton(_ => new LocalContentStore(Path.Combine(dataPath, "spool")));
            // Unpins that found the node down wait here for the pusher, so an outage never leaves an object pinned for ever.
            services.AddSingleton(_ => new PendingUnpins(Path.Combine(dataPath, "unpin")));
            services.AddSingleton<IContentStore>(s => new SpoolingContentStore(
                new KuboContentStore(s.GetRequiredService<KuboClient>()),
                s.GetRequiredService<LocalContentStore>(),
                settings.Vault.WhenNodeDown,
                s.GetRequiredService<ILogger<SpoolingContentStore>>(),
                s.GetRequiredService<PendingUnpins>(),
                new NodeCircuit(s.GetRequiredService<TimeProvider>())));
            // With the index, the pusher drops what another instance revoked while only this spool held it.
            services.AddSingleton(s => new SpoolPusher(
                s.GetRequiredService<LocalContentStore>(),
                s.GetRequiredService<KuboClient>(),
                s.GetRequiredService<IAttachmentIndex>(),
                s.GetRequiredService<PendingUnpins>(),
                s.GetRequiredService<ILogger<SpoolPusher>>()));
        }
        else
        {
            services.AddSingleton(_ => new LocalContentStore(Path.Combine(dataPath, "store")));
            services.AddSingleton<IContentStore>(s => s.GetRequiredService<LocalContentStore>());
        }

        services.AddSingleton(s =>
        {
            Directory.CreateDirectory(dataPath);
            return AttachmentIndexFactory.Create(settings.Index, dataPath, s.GetRequiredService<TimeProvider>(), s.GetRequiredService<ILoggerFactory>());
        });

        // The sender-notice queue lives in the index's own database.
        services.AddSingleton(s => (ISenderNoticeQueue)s.GetRequiredService<IAttachmentIndex>());
        services.AddSingleton(s => new AttachmentVault(
            s.GetRequiredService<IContentStore>(),
            s.GetRequiredService<IAttachmentIndex>(),
            new AttachmentVaultOptions
            {
                PublicUrl = settings.Root.PublicUrl,
                Retention = TimeSpan.FromDays(settings.Vault.RetentionDays),
                RetentionBySenderDomain = settings.Vault.RetentionDaysBySenderDomain.ToDictionary(
                    p => p.Key, p => TimeSpan.FromDays(p.Value), StringComparer.OrdinalIgnoreCase),
                NotifySenderFor = settings.Gateway.NotifiesSender,
            },
            s.GetRequiredService<TimeProvider>(),
            s.GetRequiredService<ILogger<AttachmentVault>>()));
        services.AddSingleton<VaultComponents>();
        return services;
    }
}
