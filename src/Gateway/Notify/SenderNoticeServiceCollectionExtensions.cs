using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Detach.Gateway.Notify;

public static class SenderNoticeServiceCollectionExtensions
{
    /// <summary>
    /// Sender notices: <see cref="FirstDownloads"/> (which the download gateway calls) and the service that sends them.
    /// The queue is the index's own database, registered with the vault (AddDetachVault). The host provides
    /// DetachSettings and TimeProvider.
    /// </summary>
    public static IServiceCollection AddSenderNotices(this IServiceCollection services)
    {
        services.TryAddSingleton<SenderNoticeSignal>();
        services.TryAddSingleton<FirstDownloads>();
        services.TryAddSingleton<NoticeRelay>();
        services.AddHostedService<SenderNoticeService>();
        return services;
    }
}
