using Microsoft.Extensions.DependencyInjection;

namespace Detach.Vault.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>Registers <see cref="KuboClient"/> as a typed HttpClient configured by <see cref="KuboOptions"/>.</summary>
    public static IHttpClientBuilder AddKuboClient(this IServiceCollection services, Action<KuboOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<KuboOptions>().Configure(configure);
        return services.AddHttpClient<KuboClient>(http => http.Timeout = Timeout.InfiniteTimeSpan);
    }
}
