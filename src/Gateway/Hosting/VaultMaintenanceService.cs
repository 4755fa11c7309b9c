using Detach.Gateway.Configuration;
using Detach.Vault;
using Detach.Vault.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Hosting;

/// <summary>
/// Runs the vault's lifecycle on a timer: erases keys past retention, collects objects of messages that
/// were never accepted, and pushes spooled objects to the IPFS node once it answers again.
/// </summary>
public sealed class VaultMaintenanceService(
    AttachmentVault vault,
    DetachSettings settings,
    ILogger<VaultMaintenanceService> logger,
    SpoolPusher? spool = null) : BackgroundService
{
    /// <summary>A message is normally settled within smtpd_proxy_timeout; objects still unsettled after this are garbage.</summary>
    public static readonly TimeSpan OrphanAge = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(settings.Vault.MaintenanceIntervalSeconds));
        do
        {
            await RunOnceAsync(stoppingToken).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var expired = await vault.ExpireAsync(cancellationToken).ConfigureAwait(false);
            var orphans = await vault.CollectOrphansAsync(OrphanAge, cancellationToken).ConfigureAwait(false);
            var pushed = spool is null ? 0 : await spool.PushPendingAsync(cancellationToken).ConfigureAwait(false);
            if (expired.Count + orphans.Count + pushed > 0)
            {
                logger.LogInformation("Vault maintenance: {Expired} expired, {Orphans} orphans collected, {Pushed} spooled objects pushed",
                    expired.Count, orphans.Count, pushed);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Vault maintenance failed; retrying at the next interval");
        }
    }
}
