using Detach.Gateway.Configuration;
using Detach.Gateway.Http;
using Detach.Gateway.Metrics;
using Detach.Gateway.Milter;
using Detach.Gateway.Notify;
using Detach.Gateway.Processing;
using Detach.Gateway.Scanning;
using Detach.Gateway.SmtpFront;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Hosting;

/// <summary>Composes the `detach serve` process: vault, SMTP front, download gateway, health and metrics.</summary>
public static class DetachHost
{
    /// <summary>
    /// Composes the process; nothing is opened yet. The index is migrated in the host's starting phase
    /// (<see cref="IndexMigrationService"/>), before the SMTP front and the gateway listen.
    /// </summary>
    public static Task<WebApplication> BuildAsync(DetachSettings settings, CancellationToken cancellationToken, Action<ILoggingBuilder>? logging = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        ConfigureLogging(builder.Logging, logging);
        builder.WebHost.UseUrls(settings.Gateway.Listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddDetachVault(settings);
        services.AddHostedService<IndexMigrationService>();
        services.AddSingleton<DetachMetrics>();
        services.AddSingleton<PrometheusExporter>();
        services.AddHostedService<VaultMaintenanceService>();
        services.AddDownloadGateway();
        services.AddSenderNotices();
        var clamd = ScanInspector.CreateClient(settings.Scan);
        if (clamd is not null)
        {
            services.AddSingleton<IAttachmentInspector>(s => new ScanInspector(settings.Scan, clamd, s.GetRequiredService<DetachMetrics>(), s.GetRequiredService<ILogger<ScanInspector>>()));
        }

        services.AddSingleton<MessageDetacher>();
        services.AddSingleton(new MessageSpools(settings.Root));
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
        app.Services.GetRequiredService<AttachmentVault>().AttachmentStored += app.Services.GetRequiredService<DetachMetrics>().OnAttachmentStored;
        var index = app.Services.GetRequiredService<IAttachmentIndex>();
        var store = app.Services.GetRequiredService<IContentStore>();
        if (store is SpoolingContentStore spooling)
        {
            app.Services.GetRequiredService<DetachMetrics>().ObserveNodeSkipped(() => spooling.NodeSkipped);
        }

        app.UseDownloadGateway();
        app.MapDownloadGateway();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        var readiness = new ReadinessProbe(index, store, settings.Scan, clamd);
        app.MapGet("/readyz", async (CancellationToken cancellationToken) =>
        {
            var (ready, body) = await readiness.CheckAsync(cancellationToken).ConfigureAwait(false);
            return Results.Text(body, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), PrometheusExporter.ContentType));
        app.Lifetime.ApplicationStarted.Register(() => Console.Out.WriteLine(Banner(settings,
            app.Services.GetRequiredService<SmtpFrontService>(), app.Services.GetRequiredService<MilterService>())));
        return Task.FromResult(app);
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
