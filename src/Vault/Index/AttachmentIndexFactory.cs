using Microsoft.Extensions.Logging;

namespace Detach.Vault.Index;

/// <summary>Builds the configured index. The caller runs <see cref="IAttachmentIndex.MigrateAsync"/> once at start.</summary>
public static class AttachmentIndexFactory
{
    /// <param name="dataPath">The data folder; the SQLite index lives at <c>{dataPath}/index.db</c> unless a connection string says otherwise.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public static IAttachmentIndex Create(IndexOptions options, string dataPath, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        if (options.IsPostgres)
        {
            return new NpgsqlAttachmentIndex(options.ConnectionString!, timeProvider);
        }

        var logger = loggerFactory?.CreateLogger<SqliteAttachmentIndex>();
        if (options.ConnectionString is not null)
        {
            return new SqliteAttachmentIndex(options.ConnectionString, timeProvider, logger);
        }

        return SqliteAttachmentIndex.ForDataPath(dataPath, timeProvider, logger);
    }
}
