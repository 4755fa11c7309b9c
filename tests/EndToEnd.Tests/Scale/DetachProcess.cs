using System.Globalization;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Gateway.Http;

namespace Detach.EndToEnd.Tests.Scale;

/// <summary>
/// One `detach serve` process as an operator runs it (the built detach.dll beside the test assembly, settings given
/// with --set), with its own data folder and ports; its console output is kept. <see cref="RunAsync"/> runs any other
/// `detach` command (vault gc, vault revoke, fetch) with the same settings, as a second process on the same host would.
/// </summary>
public sealed class DetachProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartPatience = TimeSpan.FromMinutes(2);

    private readonly IReadOnlyList<string> _settings;
    private ChildProcess? _process;

    private DetachProcess(string name, string dataPath, int smtpPort, int httpPort, IReadOnlyList<string> settings)
    {
        Name = name;
        DataPath = dataPath;
        SmtpPort = smtpPort;
        HttpPort = httpPort;
        _settings = settings;
    }

    public string Name { get; }

    public string DataPath { get; }

    public int SmtpPort { get; }

    public int HttpPort { get; }

    /// <summary>The gateway's own address (the shared PublicUrl is the balancer's, which the tests stand in for).</summary>
    public Uri GatewayUrl => new($"http://127.0.0.1:{HttpPort.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>What `detach serve` wrote so far (its log).</summary>
    public string Output => (_process?.StandardOutput ?? string.Empty) + (_process?.StandardError ?? string.Empty);

    /// <summary>
    /// Starts `detach serve` on <paramref name="smtpPort"/> and a free HTTP port over <paramref name="dataPath"/>
    /// (created), with <paramref name="settings"/> (KEY=VALUE) after the ones this class sets; waits until
    /// /healthz answers and the SMTP port listens.
    /// </summary>
    public static async Task<DetachProcess> StartAsync(
        string name, string dataPath, int smtpPort, IEnumerable<string> settings, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataPath);
        var httpPort = FreePort.Next();
        var all = new List<string>
        {
            $"DataPath={dataPath}",
            $"Gateway:Listen=http://127.0.0.1:{httpPort.ToString(CultureInfo.InvariantCulture)}",
            $"Smtp:Listen=127.0.0.1:{smtpPort.ToString(CultureInfo.InvariantCulture)}",
        };
        all.AddRange(settings);
        var instance = new DetachProcess(name, dataPath, smtpPort, httpPort, all);
        await instance.StartAsync(cancellationToken);
        return instance;
    }

    /// <summary>Starts (or starts again, on the same folder and ports) the serve process.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_process is { HasExited: false })
        {
            throw new InvalidOperationException($"detach {Name} is already running.");
        }

        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        _process = ChildProcess.Start("dotnet", Arguments(["serve"], []), DataPath, Environment());
        var deadline = DateTime.UtcNow + StartPatience;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"detach {Name} exited at start:\n{Output}");
            }

            try
            {
                using var health = await http.GetAsync(new Uri(GatewayUrl, "/healthz"), cancellationToken);
                if (health.IsSuccessStatusCode && !FreePort.IsFree(SmtpPort))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"detach {Name} not ready after {StartPatience.TotalSeconds} s:\n{Output}");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>Kills the serve process at once (no graceful stop), as a crash or an OOM kill would.</summary>
    public async Task KillAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    /// <summary>Runs `detach {command}` with this instance's settings plus <paramref name="extraSettings"/>, to completion.</summary>
    public Task<ProcessResult> RunAsync(IEnumerable<string> command, CancellationToken cancellationToken, IEnumerable<string>? extraSettings = null) =>
        ChildProcess.RunAsync("dotnet", Arguments(command, extraSettings ?? []), StartPatience, cancellationToken, DataPath, Environment());

    /// <summary>Starts `detach {command}` without waiting, so several can run at the same moment.</summary>
    public ChildProcess Start(IEnumerable<string> command, IEnumerable<string>? extraSettings = null) =>
        ChildProcess.Start("dotnet", Arguments(command, extraSettings ?? []), DataPath, Environment());

    /// <summary>Waits until the serve log holds <paramref name="text"/>; returns the line.</summary>
    public async Task<string> WaitForOutputAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = Output.Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"detach {Name} logged no line containing \"{text}\":\n{Tail(Output, 40)}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>GET /d/{cid}/file on this instance's gateway with the key in X-Detach-Key, as curl would.</summary>
    public async Task<HttpResponseMessage> GetFileAsync(HttpClient http, string link, CancellationToken cancellationToken)
    {
        var (cid, key) = SplitLink(link);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(GatewayUrl, $"/d/{cid}/file"));
        request.Headers.Add(LinkKeyHeader.Name, key);
        return await http.SendAsync(request, cancellationToken);
    }

    /// <summary>POST /d/{cid}/meta as the download page does; returns the answer and the token cookie it set (or null).</summary>
    public async Task<(HttpResponseMessage Response, string? Token)> OpenMetaAsync(HttpClient http, string link, CancellationToken cancellationToken)
    {
        var (cid, key) = SplitLink(link);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(GatewayUrl, $"/d/{cid}/meta"));
        request.Headers.Add(LinkKeyHeader.Name, key);
        var response = await http.SendAsync(request, cancellationToken);
        var token = response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.Select(c => c.Split(';')[0]).FirstOrDefault(c => c.StartsWith(LinkKeyHeader.TokenCookie + "=", StringComparison.Ordinal))?[(LinkKeyHeader.TokenCookie.Length + 1)..]
            : null;
        return (response, token);
    }

    /// <summary>GET /d/{cid}/file with only the download token cookie, as the browser's download manager does.</summary>
    public async Task<HttpResponseMessage> GetFileWithTokenAsync(HttpClient http, string link, string token, CancellationToken cancellationToken)
    {
        var (cid, _) = SplitLink(link);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(GatewayUrl, $"/d/{cid}/file"));
        request.Headers.Add("Cookie", $"{LinkKeyHeader.TokenCookie}={token}");
        return await http.SendAsync(request, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    /// <summary>The CID and the link key text of <c>{PublicUrl}/d/{cid}#{key}</c>.</summary>
    public static (string Cid, string Key) SplitLink(string link)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        var path = new Uri(link[..hash]).AbsolutePath;
        return (path[(path.LastIndexOf('/') + 1)..], link[(hash + 1)..]);
    }

    private List<string> Arguments(IEnumerable<string> command, IEnumerable<string> extraSettings)
    {
        var arguments = new List<string> { Path.Combine(AppContext.BaseDirectory, "detach.dll") };
        arguments.AddRange(command);
        foreach (var setting in _settings.Concat(extraSettings))
        {
            arguments.Add("--set");
            arguments.Add(setting);
        }

        return arguments;
    }

    // Workstation GC keeps each process small on a shared machine; nothing here measures speed.
    private static Dictionary<string, string> Environment() => new() { ["DOTNET_gcServer"] = "0", ["DOTNET_NOLOGO"] = "1" };

    private static string Tail(string text, int lines) => string.Join('\n', text.Split('\n').TakeLast(lines));
}
