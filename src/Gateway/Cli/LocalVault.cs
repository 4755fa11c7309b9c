using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Vault.Index;
using Microsoft.Data.Sqlite;

namespace Detach.Gateway.Cli;

/// <summary>
/// This instance's vault, for the commands that read or change what `detach serve` stored (vault ls, stats,
/// revoke, gc, push; fetch --local). They open it only if it exists: run in the wrong folder, they say so instead of
/// creating an empty data folder and index as a side effect. Only `serve` and `filter` create a vault.
/// </summary>
public static class LocalVault
{
    /// <summary>Why there is no vault under the configured DataPath, or null when there is one.</summary>
    public static string? WhyMissing(DetachSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var data = settings.Root.FullDataPath;
        if (!Directory.Exists(data))
        {
            return $"there is no vault here: the data folder {data} does not exist";
        }

        if (settings.Index.IsSqlite)
        {
            var database = settings.Index.ConnectionString is { } connection
                ? Path.GetFullPath(new SqliteConnectionStringBuilder(connection).DataSource)
                : Path.Combine(data, SqliteAttachmentIndex.DatabaseFileName);
            if (!File.Exists(database))
            {
                return $"there is no vault here: {database} does not exist";
            }
        }

        return null;
    }

    /// <summary>Opens the vault, or throws <see cref="NoVaultException"/> when there is none to open.</summary>
    public static Task<VaultComponents> OpenAsync(DetachSettings settings, CancellationToken cancellationToken) =>
        WhyMissing(settings) is { } why
            ? throw new NoVaultException($"{why}. Run this where detach serve keeps its data, or point DataPath at it (--set DataPath=/var/lib/detach).")
            : VaultComponents.OpenAsync(settings, cancellationToken);
}

/// <summary>A command that needs this instance's vault ran where there is none (EX_NOINPUT).</summary>
public sealed class NoVaultException(string message) : Exception(message);
