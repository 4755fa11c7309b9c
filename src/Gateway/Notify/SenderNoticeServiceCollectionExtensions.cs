using Detach.Vault.Index;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Detach.Gateway.Notify;

public static class SenderNoticeServiceCollectionExtensions
{
    /// <summary>
    /// Sender notices: <see cref="FirstDownloads"/> (which the download gateway calls) and the service that sends them.
    /// The queue is the index's own database. The host provides DetachSettings and TimeProvider.
    /// </summary>
    public static IServiceCollection AddSenderNotices(this IServiceCollection services, ISenderNoticeQueue queue)
    {
        services.TryAddSingleton(queue);
        services.TryAddSingleton<SenderNoticeSignal>();
        services.TryAddSingleton<FirstDownloads>();
        services.TryAddSingleton<NoticeRelay>();
        services.AddHostedService<SenderNoticeService>();
        return services;
    }
}
