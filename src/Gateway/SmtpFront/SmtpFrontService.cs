using System.Net;
using System.Security.Cryptography.X509Certificates;
using Detach.Gateway.Configuration;
using Detach.Smtp;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.SmtpFront;

/// <summary>Hosts the SMTP listener Postfix's smtpd_proxy_filter (or lmtp transport) connects to.</summary>
public sealed class SmtpFrontService(DetachSettings settings, DetachingBackend backend, ILoggerFactory loggers) : BackgroundService
{
    private SmtpServer? server;

    /// <summary>Bound endpoints once started (the real port when 0 was configured).</summary>
    public IReadOnlyList<EndPoint> LocalEndPoints => server?.LocalEndPoints ?? [];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(settings.Smtp.Listen))
        {
            server = new SmtpServer(CreateOptions(settings.Smtp), backend, loggers.CreateLogger<SmtpServer>());
            server.Start(); // bind now, so a taken port fails start-up instead of a background task
        }

        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        server is null ? Task.CompletedTask : server.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (server is not null)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Session code runs on the socket event thread (the backend moves heavy work to the pool), unless switched off,
    /// and never with TLS: a handshake costs about a millisecond of CPU, too long to hold up every other connection.
    /// </summary>
    internal static bool UsesInlineCompletions(SmtpFrontOptions smtp) => smtp.InlineCompletions && string.IsNullOrEmpty(smtp.TlsCertificatePath);

    /// <summary>
    /// The one mapping from the Smtp section to the server's options. The section's defaults are the library's, except
    /// MaxTextLineLength (0 behind Postfix, see <see cref="SmtpFrontOptions.MaxTextLineLength"/>); a test holds them together.
    /// </summary>
    public static SmtpServerOptions CreateOptions(SmtpFrontOptions smtp)
    {
        var options = new SmtpServerOptions
        {
            ServerName = smtp.ServerName,
            Lmtp = smtp.Lmtp,
            MaxConnections = smtp.MaxConnections,
            MaxConnectionsPerClient = smtp.MaxConnectionsPerClient,
            InlineCompletions = UsesInlineCompletions(smtp),
            Limits = new SmtpLimits
            {
                MaxMessageSize = smtp.MaxMessageBytes,
                MaxRecipients = smtp.MaxRecipients,
                MaxTextLineLength = smtp.MaxTextLineLength,
                IdleTimeout = TimeSpan.FromSeconds(smtp.IdleTimeoutSeconds),
                SessionTimeout = TimeSpan.FromSeconds(smtp.SessionTimeoutSeconds),
                DataTimeout = TimeSpan.FromSeconds(smtp.DataTimeoutSeconds),
                MinDataRate = smtp.MinDataRateBytesPerSecond,
            },
        };
        options.EndPoints.Add(IPEndPoint.Parse(smtp.Listen));
        foreach (var network in smtp.AuthorizedXforwardNetworks)
        {
            options.AuthorizedForwarders.Add(IPNetwork.Parse(network));
        }

        if (!string.IsNullOrEmpty(smtp.TlsCertificatePath))
        {
            options.Certificate = string.IsNullOrEmpty(smtp.TlsKeyPath)
                ? X509CertificateLoader.LoadPkcs12FromFile(smtp.TlsCertificatePath, null)
                : X509Certificate2.CreateFromPemFile(smtp.TlsCertificatePath, smtp.TlsKeyPath);
        }

        return options;
    }
}
