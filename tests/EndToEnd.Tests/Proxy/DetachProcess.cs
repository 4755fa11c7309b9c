using System.Globalization;
using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// `detach serve` as a process of its own (`dotnet detach.dll serve`), for what an in-process host cannot show:
/// a SIGKILL at a chosen moment, and a restart on the same data folder and ports.
/// </summary>
public sealed class DetachProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(90);

    private readonly ChildProcess _process;

    private DetachProcess(ChildProcess process) => _process = process;

    public int Id => _process.Id;

    /// <summary>What it printed so far (the banner on stdout, the log lines on the console).</summary>
    public string Output => _process.StandardOutput + _process.StandardError;

    /// <summary>The settings (KEY=VALUE) that put detach on <paramref name="dataPath"/> and the given ports.</summary>
    public static IReadOnlyList<string> Settings(string dataPath, int smtpPort, int httpPort) =>
    [
        $"DataPath={dataPath}",
        $"PublicUrl=http://127.0.0.1:{Invariant(httpPort)}",
        $"Gateway:Listen=http://127.0.0.1:{Invariant(httpPort)}",
        $"Smtp:Listen=127.0.0.1:{Invariant(smtpPort)}",
    ];

    /// <summary>Starts `detach serve` with <paramref name="settings"/> (as --set) and waits until it says it is running.</summary>
    public static async Task<DetachProcess> StartAsync(IEnumerable<string> settings, CancellationToken cancellationToken)
    {
        var process = ChildProcess.Start("dotnet", Arguments(["serve"], settings));
        var deadline = DateTime.UtcNow + StartPatience;
        while (!process.StandardOutput.Contains("detach is running", StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await process.DisposeAsync();
                throw new InvalidOperationException($"`{process.Command}` did not start:\n{process.StandardOutput}\n{process.StandardError}");
            }

            await Task.Delay(50, cancellationToken);
        }

        return new DetachProcess(process);
    }

    /// <summary>Runs one detach command (e.g. `vault gc`) to its end with <paramref name="settings"/>.</summary>
    public static Task<ProcessResult> RunAsync(IEnumerable<string> command, IEnumerable<string> settings, CancellationToken cancellationToken) =>
        ChildProcess.RunAsync("dotnet", Arguments(command, settings), TimeSpan.FromSeconds(90), cancellationToken);

    /// <summary>SIGKILL, and returns once the process is gone: it runs no code of its own after this.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static IEnumerable<string> Arguments(IEnumerable<string> command, IEnumerable<string> settings) =>
        [Path.Combine(AppContext.BaseDirectory, "detach.dll"), .. command, .. settings.SelectMany(s => new[] { "--set", s })];

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
