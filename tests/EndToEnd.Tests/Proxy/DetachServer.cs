using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// `detach serve` run in-process the way Program does it: its own data folder, SMTP front on
/// <see cref="SmtpPort"/>, download gateway (and /metrics) on <see cref="HttpPort"/>, every log line kept.
/// </summary>
public sealed class DetachServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LogCapture _logs;
    private readonly DirectoryInfo _data;

    private DetachServer(WebApplication app, DetachSettings settings, LogCapture logs, DirectoryInfo data, int smtpPort, int httpPort)
    {
        _app = app;
        Settings = settings;
        _logs = logs;
        _data = data;
        SmtpPort = smtpPort;
        HttpPort = httpPort;
    }

    public DetachSettings Settings { get; }

    public int SmtpPort { get; }

    public int HttpPort { get; }

    public string DataDirectory => _data.FullName;

    public IServiceProvider Services => _app.Services;

    public VaultComponents Vault => _app.Services.GetRequiredService<VaultComponents>();

    /// <summary>Every log line so far, as "Level Category: message".</summary>
    public IReadOnlyList<string> Logs => [.. _logs.Lines];

    /// <summary>
    /// Starts detach with <paramref name="settings"/> (KEY=VALUE, as for --set) on top of a private data folder
    /// and free ports; <paramref name="smtpPort"/> fixes the SMTP port when a peer must know it first.
    /// </summary>
    public static async Task<DetachServer> StartAsync(IEnumerable<string> settings, CancellationToken cancellationToken, int? smtpPort = null)
    {
        var data = Directory.CreateTempSubdirectory("detach-e2e-data-");
        var ports = FreePort.Next(smtpPort is null ? 2 : 1);
        var http = ports[0];
        var smtp = smtpPort ?? ports[1];
        var all = new List<string>
        {
            $"DataPath={data.FullName}",
            $"PublicUrl=http://127.0.0.1:{Invariant(http)}",
            $"Gateway:Listen=http://127.0.0.1:{Invariant(http)}",
            $"Smtp:Listen=127.0.0.1:{Invariant(smtp)}",
        };
        all.AddRange(settings);
        var loaded = DetachSettings.Load(DetachConfiguration.Build(null, all));
        var logs = new LogCapture();
        // Session ends are logged at Debug; keep them (only in the capture) so tests can wait for them.
        var app = await DetachHost.BuildAsync(loaded, cancellationToken, l => l.AddProvider(logs).AddFilter<LogCapture>("Detach", LogLevel.Debug));
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            data.Delete(recursive: true);
            throw;
        }

        return new DetachServer(app, loaded, logs, data, smtp, http);
    }

    /// <summary>Decrypts <paramref name="link"/> with `detach fetch` into a file and returns the SHA-256 of the plaintext.</summary>
    public async Task<string> FetchSha256Async(string link, CancellationToken cancellationToken)
    {
        var target = new FileInfo(Path.Combine(DataDirectory, "fetched-" + Guid.NewGuid().ToString("N")));
        using var errors = new StringWriter();
        var exit = await FetchCommand.RunAsync(Settings, link, target, errors, cancellationToken);
        Assert.True(exit == 0, $"detach fetch exited {exit}: {errors}");
        try
        {
            await using var file = target.OpenRead();
            return Convert.ToHexString(await SHA256.HashDataAsync(file, cancellationToken));
        }
        finally
        {
            target.Delete();
        }
    }

    /// <summary>Waits until a log line contains <paramref name="text"/>; returns it.</summary>
    public async Task<string> WaitForLogAsync(string text, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var line = _logs.Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"detach logged no line containing \"{text}\":\n{string.Join('\n', _logs.Lines.TakeLast(40))}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>GET /metrics, parsed.</summary>
    public async Task<PrometheusText> ScrapeMetricsAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{Invariant(HttpPort)}/metrics"), cancellationToken);
        return PrometheusText.Parse(text);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _app.StopAsync(stop.Token);
        }
        finally
        {
            await _app.DisposeAsync();
            if (Environment.GetEnvironmentVariable(PostfixInstance.KeepDirectoriesVariable) != "1")
            {
                try
                {
                    _data.Delete(recursive: true);
                }
                catch (IOException)
                {
                    // A file still closing; the temp folder goes with the OS's cleanup.
                }
            }
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Keeps detach's log lines, so a test can show what detach said about a failure.</summary>
    internal sealed class LogCapture : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCapture owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel) && owner.Lines.Count < 100_000)
                {
                    owner.Lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.Message)}");
                }
            }
        }
    }
}
