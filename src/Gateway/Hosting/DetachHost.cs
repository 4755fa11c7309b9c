using Detach.Gateway.Configuration;
using Detach.Gateway.Http;
using Detach.Gateway.Metrics;
using Detach.Gateway.Milter;
using Detach.Gateway.Notify;
using Detach.Gateway.Processing;
using Detach.Gateway.Scanning;
using Detach.Gateway.SmtpFront;
using Detach.Vault.Index;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Hosting;

/// <summary>Composes the `detach serve` process: vault, SMTP front, download gateway, health and metrics.</summary>
public static class DetachHost
{
    public static async Task<WebApplication> BuildAsync(DetachSettings settings, CancellationToken cancellationToken, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        ConfigureLogging(builder.Logging, logging);
        builder.WebHost.UseUrls(settings.Gateway.Listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);

        var loggerFactory = LoggerFactory.Create(l => ConfigureLogging(l, logging));
        var components = await VaultComponents.OpenAsync(settings, cancellationToken, loggerFactory).ConfigureAwait(false);
        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(components);
        services.AddSingleton(components.Vault);
        services.AddSingleton(components.Store);
        services.AddSingleton(components.Index);
        if (components.Spool is not null)
        {
            services.AddSingleton(components.Spool);
        }

        services.AddSingleton<DetachMetrics>();
        services.AddSingleton<PrometheusExporter>();
        services.AddHostedService<VaultMaintenanceService>();
        services.AddDownloadGateway();
        services.AddSenderNotices((ISenderNoticeQueue)components.Index);
        if (ScanInspector.CreateClient(settings.Scan) is { } clamd)
        {
            services.AddSingleton<IAttachmentInspector>(s => new ScanInspector(settings.Scan, clamd, s.GetRequiredService<DetachMetrics>(), s.GetRequiredService<ILogger<ScanInspector>>()));
        }

        services.AddSingleton<MessageDetacher>();
        services.AddSingleton<DetachingBackend>();
        services.AddSingleton<SmtpFrontService>();
        services.AddHostedService(s => s.GetRequiredService<SmtpFrontService>());
        services.AddSingleton<MilterDetacher>();
        services.AddSingleton<DetachingMilter>();
        services.AddSingleton<MilterService>();
        services.AddHostedService(s => s.GetRequiredService<MilterService>());

        var app = builder.Build();
        // Create the exporter before any instrument records, so nothing is missed.
        _ = app.Services.GetRequiredService<PrometheusExporter>();
        components.Vault.AttachmentStored += app.Services.GetRequiredService<DetachMetrics>().OnAttachmentStored;

        app.UseDownloadGateway();
        app.MapDownloadGateway();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", async (CancellationToken ct) =>
        {
            var index = await components.Index.PingAsync(ct).ConfigureAwait(false);
            var store = await components.Store.IsAvailableAsync(ct).ConfigureAwait(false);
            var body = $"index {(index ? "ok" : "unreachable")}\nstore {(store ? "ok" : "unreachable")}\n";
            return index && store ? Results.Text(body) : Results.Text(body, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), PrometheusExporter.ContentType));
        app.Lifetime.ApplicationStarted.Register(() => Console.Out.WriteLine(Banner(settings,
            app.Services.GetRequiredService<SmtpFrontService>(), app.Services.GetRequiredService<MilterService>())));
        return app;
    }

    /// <summary>What a newcomer needs to see it work: where it listens and one command to try.</summary>
    private static string Banner(DetachSettings settings, SmtpFrontService smtp, MilterService milter)
    {
        var listen = smtp.LocalEndPoints.FirstOrDefault()?.ToString() ?? settings.Smtp.Listen;
        var next = string.IsNullOrWhiteSpace(settings.Smtp.NextHop)
            ? $"the Maildir {Path.Combine(settings.Root.FullDataPath, "maildir", "new")}"
            : settings.Smtp.NextHop;
        var fronts = new List<string>();
        if (!string.IsNullOrWhiteSpace(listen))
        {
            fronts.Add($"SMTP on {listen} (mail goes on to {next})");
        }

        if (milter.LocalEndPoints.FirstOrDefault() is { } milterEndPoint)
        {
            fronts.Add($"milter on {Detach.Milter.MilterEndPoint.ToPostfix(milterEndPoint)} (for Postfix's smtpd_milters)");
        }

        var colon = listen.LastIndexOf(':');
        return string.Join(Environment.NewLine,
            [
                "",
                $"detach is running: {string.Join(", ", fronts)}, downloads at {settings.Root.PublicUrl}",
                .. colon < 0 ? Array.Empty<string>() :
                [
                    "Try it: send a mail with an attachment, then open the link in the delivered message:",
                    $"  swaks --server {listen[..colon]} --port {listen[(colon + 1)..]} --to you@example.test --attach README.md",
                ],
                "",
            ]);
    }

    private static void ConfigureLogging(ILoggingBuilder logging, Action<ILoggingBuilder>? extra)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        // ASP.NET's own request lines carry full URLs; the gateway writes its own access log without secrets.
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        extra?.Invoke(logging);
    }
}
