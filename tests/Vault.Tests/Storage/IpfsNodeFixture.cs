using System.Diagnostics;
using Detach.Vault.Storage;
using Microsoft.Extensions.Options;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// A real js-ipfs node (the Kubo RPC API) on a free local port with a temporary repo, started by
/// ipfs/start-test-node.sh and killed (whole process tree) at the end. Runs <c>npm ci</c> in ipfs/
/// when node_modules is missing; tests skip with a clear message when npm is not installed.
/// </summary>
public sealed class IpfsNodeFixture : IAsyncLifetime
{
    private static readonly SemaphoreSlim NpmInstall = new(1, 1);
    private int? _pid;

    public string RepoDirectory { get; } = Path.Combine(Path.GetTempPath(), "detach-ipfs-" + Guid.NewGuid().ToString("N")[..12]);

    public int Port { get; } = FreePort.Next();

    public Uri ApiUrl => new($"http://127.0.0.1:{Port}");

    /// <summary>Why the node is not there (tests call <see cref="RequireNode"/>), or null.</summary>
    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var ipfsDirectory = Path.Combine(RepositoryPaths.Root, "ipfs");
        if (!File.Exists(Path.Combine(ipfsDirectory, "node_modules", ".bin", "jsipfs")))
        {
            SkipReason = await InstallAsync(ipfsDirectory);
            if (SkipReason is not null)
            {
                return;
            }
        }
        await StartAsync();
    }

    public void RequireNode()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    public KuboClient CreateClient(TimeSpan? requestTimeout = null, int maxRetries = 1, TimeSpan? transferTimeout = null) =>
        new(new HttpClient(), Options.Create(new KuboOptions
        {
            ApiUrl = ApiUrl,
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(10),
            TransferTimeout = transferTimeout ?? TimeSpan.FromMinutes(10),
            MaxRetries = maxRetries,
            RetryDelay = TimeSpan.FromMilliseconds(100),
        }));

    /// <summary>Starts (or restarts, keeping the repo) the node; returns once /api/v0/id answers.</summary>
    public async Task StartAsync()
    {
        var script = Path.Combine(RepositoryPaths.Root, "ipfs", "start-test-node.sh");
        var started = await ChildProcess.RunAsync("bash", [script, RepoDirectory, Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromMinutes(2), CancellationToken.None);
        if (!started.Succeeded)
        {
            throw new InvalidOperationException($"The js-ipfs test node did not start: {started}");
        }
        _pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(RepoDirectory, "daemon.pid")), System.Globalization.CultureInfo.InvariantCulture);
        using var http = new HttpClient();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var response = await http.PostAsync(new Uri(ApiUrl, "/api/v0/id"), null);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (attempt < 100)
            {
            }
            await Task.Delay(100);
        }
    }

    public bool IsRunning => _pid is { } pid && IsAlive(pid);

    /// <summary>Starts the node unless it runs (it may also have died on its own).</summary>
    public async Task EnsureRunningAsync()
    {
        if (!IsRunning)
        {
            _pid = null;
            await StartAsync();
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Sends a signal (STOP freezes the node: it accepts connections but answers nothing; CONT resumes it).</summary>
    public async Task SignalAsync(string signal)
    {
        var pid = _pid ?? throw new InvalidOperationException("The node is not running.");
        (await ChildProcess.RunAsync("bash", ["-c", $"kill -{signal} {pid}"], TimeSpan.FromSeconds(10), CancellationToken.None)).EnsureSuccess();
    }

    /// <summary>Kills the node and everything it started, at once (no graceful shutdown).</summary>
    public void Kill()
    {
        if (_pid is not { } pid)
        {
            return;
        }
        _pid = null;
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        if (Environment.GetEnvironmentVariable("DETACH_KEEP_IPFS_REPO") == "1")
        {
            // For debugging a failed run: the repo keeps daemon.log.
            return ValueTask.CompletedTask;
        }
        try
        {
            Directory.Delete(RepoDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }

    private static async Task<string?> InstallAsync(string ipfsDirectory)
    {
        await NpmInstall.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(ipfsDirectory, "node_modules", ".bin", "jsipfs")))
            {
                return null;
            }
            try
            {
                var install = await ChildProcess.RunAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], TimeSpan.FromMinutes(10), CancellationToken.None, ipfsDirectory);
                return install.Succeeded ? null : $"'npm ci' in {ipfsDirectory} failed; the js-ipfs test node is unavailable: {install}";
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return $"npm is not installed: cannot install the js-ipfs test node in {ipfsDirectory} (run scripts/install-test-deps.sh).";
            }
        }
        finally
        {
            NpmInstall.Release();
        }
    }
}

/// <summary>Tests sharing one node (add, cat, pin); they never stop it.</summary>
[CollectionDefinition(Name)]
public sealed class SharedIpfsNode : ICollectionFixture<IpfsNodeFixture>
{
    public const string Name = "Shared js-ipfs node";
}
