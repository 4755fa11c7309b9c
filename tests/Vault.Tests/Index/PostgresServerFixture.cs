namespace Detach.Vault.Tests.Index;

/// <summary>
/// A private PostgreSQL server for one test class: scripts/start-test-postgres.sh starts it on a free port in a
/// temporary folder, and it is stopped (immediate mode) and deleted at the end. Set DETACH_TEST_POSTGRES to an
/// Npgsql connection string to use an existing server instead. Tests are skipped only when the binaries are absent.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    public const string ExistingServerVariable = "DETACH_TEST_POSTGRES";

    private string? _script;
    private DirectoryInfo? _folder;

    /// <summary>Connection string of the test database; null when skipped.</summary>
    public string? ConnectionString { get; private set; }

    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var existing = Environment.GetEnvironmentVariable(ExistingServerVariable);
        if (!string.IsNullOrWhiteSpace(existing))
        {
            ConnectionString = existing;
            return;
        }

        var binaries = Directory.Exists("/usr/lib/postgresql")
            && Directory.EnumerateDirectories("/usr/lib/postgresql").Any(d => File.Exists(Path.Combine(d, "bin", "initdb")));
        if (!binaries)
        {
            SkipReason = "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install -y postgresql, " +
                $"or set {ExistingServerVariable} to a connection string): PostgreSQL index tests skipped.";
            return;
        }

        _script = Path.Combine(RepositoryPaths.Root, "scripts", "start-test-postgres.sh");

        // A port picked free can be taken before the server binds it: try a few.
        string? lastError = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            _folder = Directory.CreateTempSubdirectory("detach-pg-");
            var started = await RunAsync(_script, _folder.FullName, FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (started.Succeeded)
            {
                ConnectionString = started.StandardOutput.Trim().Split('\n')[^1];
                return;
            }

            lastError = started.StandardError;
            await StopAndDeleteAsync();
        }

        throw new InvalidOperationException($"Could not start the test PostgreSQL server: {lastError}");
    }

    public async ValueTask DisposeAsync() => await StopAndDeleteAsync();

    private async Task StopAndDeleteAsync()
    {
        if (_folder is null || _script is null)
        {
            return;
        }

        await RunAsync(_script, "--stop", _folder.FullName);
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }

        _folder = null;
    }

    private static Task<ProcessResult> RunAsync(string script, params string[] arguments) =>
        ChildProcess.RunAsync("bash", [script, .. arguments], TimeSpan.FromMinutes(2), CancellationToken.None);
}
