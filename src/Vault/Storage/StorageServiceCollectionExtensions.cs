using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detach.Vault.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="KuboClient"/> for the process, configured by <see cref="KuboOptions"/>, over an
    /// <see cref="HttpClient"/> from the factory. The client lives as long as the stores holding it, so its handler does
    /// not rotate; its pooled connections are renewed every few minutes instead, which keeps DNS changes visible.
    /// </summary>
    public static IHttpClientBuilder AddKuboClient(this IServiceCollection services, Action<KuboOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<KuboOptions>().Configure(configure);
        services.AddSingleton(s => new KuboClient(
            s.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(KuboClient)),
            s.GetRequiredService<IOptions<KuboOptions>>(),
            s.GetService<ILogger<KuboClient>>()));
        return services.AddHttpClient(nameof(KuboClient), http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
    }
}
