using System.Data;
using System.Data.Common;
using Npgsql;

namespace Detach.Vault.Index;

/// <summary>
/// The index in PostgreSQL, for several Detach instances sharing one vault. Counting and shredding are single
/// UPDATE statements, so concurrent instances never count past a limit or shred a record twice; migrations
/// take a transaction-scoped advisory lock, so instances starting together apply each step once.
/// </summary>
public sealed class NpgsqlAttachmentIndex : SqlAttachmentIndex
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;

    /// <summary>Uses (and on dispose, disposes) a data source built from this connection string.</summary>
    public NpgsqlAttachmentIndex(string connectionString, TimeProvider? timeProvider = null)
        : this(NpgsqlDataSource.Create(connectionString), timeProvider, ownsDataSource: true)
    {
    }

    /// <summary>Uses a data source the caller owns unless <paramref name="ownsDataSource"/>.</summary>
    public NpgsqlAttachmentIndex(NpgsqlDataSource dataSource, TimeProvider? timeProvider = null, bool ownsDataSource = false)
        : base(timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
    }

    private protected override IReadOnlyList<IndexMigration> Migrations => PostgresSchema.Migrations;

    private protected override string SchemaVersionTableSql => PostgresSchema.SchemaVersionTable;

    private protected override DbType TimeDbType => DbType.DateTimeOffset;

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    private protected override ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        connection.BeginTransactionAsync(cancellationToken);

    private protected override async Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        // Held until commit: a second instance waits here, then finds every step already recorded.
        // (Without it, two CREATE TABLE IF NOT EXISTS can still collide on the catalog's unique index.)
        using var command = CreateCommand(connection, transaction, "SELECT pg_advisory_xact_lock(@key)");
        AddParameter(command, "@key", PostgresSchema.MigrationLockKey, DbType.Int64);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private protected override object ToDbTime(DateTimeOffset time) => time.ToUniversalTime();

    private protected override string JsonArrayElementsSql(string parameter) => $"SELECT jsonb_array_elements_text(CAST({parameter} AS jsonb))";

    private protected override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
        reader.GetFieldValue<DateTimeOffset>(ordinal);

    private protected override async ValueTask DisposeAsyncCore()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }
}
