using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Vault.Index;

/// <summary>
/// The default index: one SQLite file (<c>{DataPath}/index.db</c>) in WAL mode, for a single Detach instance.
/// Every connection runs with <c>secure_delete</c> on, and each shred is followed by a truncating WAL checkpoint,
/// so an overwritten key leaves neither the database file nor the WAL (see README for the limits).
/// </summary>
public sealed partial class SqliteAttachmentIndex : SqlAttachmentIndex
{
    public const string DatabaseFileName = "index.db";

    private const int BusyTimeoutMilliseconds = 10_000;

    private readonly string _connectionString;
    private readonly ILogger _logger;

    // SQLite's writers take one lock for the whole file: they queue here (see AwaitWriteTurnAsync).
    private readonly SemaphoreSlim _writer = new(1, 1);

    // 1 while a shred may still sit in the WAL because a checkpoint could not complete (a reader held it).
    private int _checkpointPending;

    private volatile bool _fileCreated;

    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming the database file.</param>
    public SqliteAttachmentIndex(string connectionString, TimeProvider? timeProvider = null, ILogger<SqliteAttachmentIndex>? logger = null)
        : base(timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory)
        {
            throw new ArgumentException("The SQLite index needs a database file (Data Source).", nameof(connectionString));
        }

        builder.Pooling = true;
        _connectionString = builder.ToString();
        DatabasePath = Path.GetFullPath(builder.DataSource);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Full path of the database file; the WAL is this path + "-wal".</summary>
    public string DatabasePath { get; }

    /// <summary>The index at <c>{dataPath}/index.db</c>, creating the folder if needed.</summary>
    public static SqliteAttachmentIndex ForDataPath(string dataPath, TimeProvider? timeProvider = null, ILogger<SqliteAttachmentIndex>? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataPath);
        var builder = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataPath, DatabaseFileName) };
        return new SqliteAttachmentIndex(builder.ToString(), timeProvider, logger);
    }

    private protected override IReadOnlyList<IndexMigration> Migrations => SqliteSchema.Migrations;

    private protected override string SchemaVersionTableSql => SqliteSchema.SchemaVersionTable;

    private protected override DbType TimeDbType => DbType.Int64;

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        if (!_fileCreated)
        {
            // Before SQLite's first open would create the file with the process umask.
            CreateFileOwnerOnly();
            _fileCreated = true;
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // All are per-connection and a pooled handle keeps what the last user set: set them on every open (cheap).
            // secure_delete zeroes freed cell space, so the old key bytes are not left behind in the page.
            // synchronous = FULL: a commit (a stored record, a shred) survives a power cut once it returns.
            await ExecuteAsync(connection, null,
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;", cancellationToken)
                .ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override async ValueTask<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken)
    {
        // In WAL mode NORMAL skips the fsync per commit (a power cut may lose the last such commits, never corrupt the
        // file; a later FULL commit syncs the log with everything before it); the next open of this pooled handle sets
        // FULL again.
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, null, "PRAGMA synchronous = NORMAL", cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override async ValueTask<WriteTurn> AwaitWriteTurnAsync(CancellationToken cancellationToken)
    {
        // Bounded like SQLite's own wait (busy_timeout), which still applies between processes (the CLI beside serve).
        if (!await _writer.WaitAsync(BusyTimeoutMilliseconds, cancellationToken).ConfigureAwait(false))
        {
            throw new TimeoutException($"The index {DatabasePath} had writers queued for over {BusyTimeoutMilliseconds / 1000} s.");
        }

        return new WriteTurn(_writer);
    }

    private protected override ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        // BEGIN IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before anything is read,
        // so two writers never deadlock on a read-to-write upgrade.
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    private protected override async Task PrepareStoreAsync(CancellationToken cancellationToken)
    {
        // journal_mode is persistent in the file and cannot change inside a transaction.
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, "PRAGMA journal_mode = WAL");
            var mode = (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"SQLite refused WAL journal mode for {DatabasePath} (got '{mode}').");
            }
        }
    }

    /// <summary>
    /// The file holds every live key: create it readable by its owner only. SQLite gives the WAL and shared-memory
    /// files the database file's permissions. An existing file keeps its mode (a backup setup may rely on it).
    /// </summary>
    private void CreateFileOwnerOnly()
    {
        if (OperatingSystem.IsWindows() || File.Exists(DatabasePath))
        {
            return;
        }

        var directory = Path.GetDirectoryName(DatabasePath);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        try
        {
            using var file = new FileStream(DatabasePath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(DatabasePath))
        {
            // Another instance created it first; same outcome.
        }
    }

    private protected override async Task AfterShredAsync(bool shredded, CancellationToken cancellationToken)
    {
        if (shredded)
        {
            Volatile.Write(ref _checkpointPending, 1);
        }
        else if (Volatile.Read(ref _checkpointPending) == 0)
        {
            return;
        }

        if (await TryCheckpointAsync(cancellationToken).ConfigureAwait(false))
        {
            Volatile.Write(ref _checkpointPending, 0);
        }
        else
        {
            LogCheckpointIncomplete(_logger, DatabasePath);
        }
    }

    /// <summary>
    /// Copies the WAL into the database file and truncates the WAL to zero bytes, so page images holding a
    /// now-shredded key are gone from both. False when a reader kept it from completing within the busy timeout.
    /// </summary>
    public async Task<bool> TryCheckpointAsync(CancellationToken cancellationToken = default)
    {
        // TRUNCATE waits for the writer lock too.
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, "PRAGMA wal_checkpoint(TRUNCATE)");
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                // One row: busy (1 when blocked), WAL frames, frames checkpointed.
                return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetInt64(0) == 0;
            }
        }
    }

    private protected override object ToDbTime(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private protected override string JsonArrayElementsSql(string parameter) => $"SELECT value FROM json_each({parameter})";

    private protected override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    private protected override async ValueTask DisposeAsyncCore()
    {
        if (Volatile.Read(ref _checkpointPending) != 0)
        {
            try
            {
                await AfterShredAsync(shredded: false, CancellationToken.None).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                LogCheckpointFailed(_logger, DatabasePath, e.SqliteErrorCode);
            }
        }

        // Closes the pooled handles: the last close checkpoints and removes the WAL, and the file can be moved.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "WAL checkpoint of {Database} did not complete (a reader held it): shredded keys may remain in the WAL until the next sweep")]
    private static partial void LogCheckpointIncomplete(ILogger logger, string database);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Final WAL checkpoint of {Database} failed with SQLite error {Code}")]
    private static partial void LogCheckpointFailed(ILogger logger, string database, int code);
}
