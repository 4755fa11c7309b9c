using Detach.Gateway.Configuration;
using Detach.Gateway.Http;
using Detach.Gateway.Metrics;
using Detach.Mime;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Tests.Download;

/// <summary>AddDownloadGateway resolves everything from what `detach serve` registers (DetachSettings, not IOptions).</summary>
public class WiringTests
{
    [Fact]
    public async Task TheGatewayResolvesFromDetachSettings()
    {
        var folder = Directory.CreateTempSubdirectory("detach-wiring-");
        try
        {
            var settings = new DetachSettings
            {
                Root = new DetachOptions { DataPath = folder.FullName, PublicUrl = "https://files.example.com" },
                Smtp = new SmtpFrontOptions(),
                Policy = new DetachPolicyOptions(),
                Vault = new VaultOptions(),
                Index = new IndexOptions(),
                Gateway = new GatewayOptions { MaxConcurrentDownloads = 3, DownloadTokenMinutes = 5 },
            };
            await using var index = SqliteAttachmentIndex.ForDataPath(folder.FullName);
            var services = new ServiceCollection();
            services.AddLogging(l => l.AddProvider(new CapturedLogs()));
            services.AddSingleton(settings);
            services.AddSingleton<DetachMetrics>();
            services.AddSingleton<IContentStore>(new LocalContentStore(Path.Combine(folder.FullName, "store")));
            services.AddSingleton<IAttachmentIndex>(index);
            services.AddDownloadGateway();
            await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

            Assert.NotNull(provider.GetRequiredService<DownloadHandler>());
            Assert.Equal(3, provider.GetRequiredService<DownloadSlots>().Capacity);
            Assert.Equal(5, provider.GetRequiredService<IOptions<GatewayOptions>>().Value.DownloadTokenMinutes);
            Assert.Contains("files.example.com", System.Text.Encoding.UTF8.GetString(provider.GetRequiredService<DownloadPage>().For(provider.GetRequiredService<PageLanguages>().Default)), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(folder.FullName, GatewaySecret.FileName)));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
