using Detach.Vault.Index;
using Microsoft.Extensions.Hosting;

namespace Detach.Gateway.Hosting;

/// <summary>
/// Migrates the index in the host's starting phase: before any hosted service starts, so neither the SMTP front nor
/// the gateway listens on an index that is not ready, and a database that cannot be reached fails start-up.
/// </summary>
public sealed class IndexMigrationService(IAttachmentIndex index) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => index.MigrateAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
