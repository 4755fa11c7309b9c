using System.Net;
using Detach.Gateway.Configuration;
using Detach.Milter;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Milter;

/// <summary>Hosts the milter listener (Milter:Listen) that Postfix's smtpd_milters and non_smtpd_milters connect to.</summary>
public sealed class MilterService(DetachSettings settings, DetachingMilter milter, ILoggerFactory loggers) : BackgroundService
{
    private MilterServer? _server;

    /// <summary>Bound endpoints once started (the real port when 0 was configured); empty when the milter is off.</summary>
    public IReadOnlyList<EndPoint> LocalEndPoints => _server?.LocalEndPoints ?? [];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(settings.Milter.Listen))
        {
            _server = new MilterServer(CreateOptions(settings.Milter), milter, loggers.CreateLogger<MilterServer>());
            _server.Start(); // bind now, so a taken port fails start-up instead of a background task
        }

        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _server is null ? Task.CompletedTask : _server.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    public static MilterServerOptions CreateOptions(MilterOptions milter)
    {
        MilterEndPoint.TryParse(milter.Listen, out var endPoint, out _);
        var options = new MilterServerOptions
        {
            MaxConnections = milter.MaxConnections,
            MaxFrameLength = milter.MaxFrameBytes,
            MaxHeaders = milter.MaxHeaders,
            MaxMacrosPerStage = milter.MaxMacros,
            IdleTimeout = TimeSpan.FromSeconds(milter.IdleTimeoutSeconds),
            ProgressInterval = TimeSpan.FromSeconds(milter.ProgressIntervalSeconds),

            // As the SMTP front: frames are handled on the socket event thread; storing and disk writes hop off it.
            InlineCompletions = true,
        };
        options.EndPoints.Add(endPoint!);

        // Only what the logs use; with SMFIF_SETSYMLIST the MTA then sends no other macros. The queue id is known
        // from the first recipient on (Postfix's smtpd_delay_open_until_valid_rcpt).
        options.MacroRequests[MilterMacroStage.EndOfHeaders] = "i";
        options.MacroRequests[MilterMacroStage.EndOfMessage] = "i";
        return options;
    }
}
