using System.Data;
using System.Data.Common;
using System.Text.Json;

namespace Detach.Vault.Index;

/// <summary>
/// The SQL both backends share (plain ADO.NET, parameterised). Subclasses supply connections, the time
/// encoding, the migration scripts and lock, and what must follow a shred to make it stick on disk.
/// </summary>
public abstract partial class SqlAttachmentIndex : IAttachmentIndex, ISenderNoticeQueue
{
    private const string Columns =
        "id, cid, vault_key, plaintext_size, ciphertext_size, content_type, file_name, created_at, expires_at, " +
        "revoked_at, revoked_reason, downloads, max_downloads, message_id, sender_domain, recipient_count, store_state, notify_address, warning";

    private const string InsertSql =
        "INSERT INTO attachments (cid, vault_key, plaintext_size, ciphertext_size, content_type, file_name, created_at, " +
        "expires_at, downloads, max_downloads, message_id, sender_domain, recipient_count, store_state, notify_address, warning) VALUES (@cid, " +
        "@vault_key, @plaintext_size, @ciphertext_size, @content_type, @file_name, @created_at, @expires_at, @downloads, " +
        "@max_downloads, @message_id, @sender_domain, @recipient_count, @store_state, @notify_address, @warning) RETURNING id";

    private const int MaxReasonLength = 200;

    private readonly TimeProvider _time;

    private protected SqlAttachmentIndex(TimeProvider? timeProvider)
    {
        _time = timeProvider ?? TimeProvider.System;
    }

    private protected abstract IReadOnlyList<IndexMigration> Migrations { get; }

    /// <summary>DDL for the schema_version table (IF NOT EXISTS), run inside the migration transaction.</summary>
    private protected abstract string SchemaVersionTableSql { get; }

    private protected abstract DbType TimeDbType { get; }

    /// <summary>Opens a connection ready for use (per-connection settings applied).</summary>
    private protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Opens the connection for a write whose loss to a power cut is harmless, so a backend may trade its durability
    /// for speed: a download count (lost, it lets one more download through) and the add of spooled records (no link
    /// to them has left yet, and the commit that marks them stored, before any does, makes the earlier add durable
    /// too). Never for stored records, marks or shreds.
    /// </summary>
    private protected virtual ValueTask<DbConnection> OpenRelaxedConnectionAsync(CancellationToken cancellationToken) =>
        OpenConnectionAsync(cancellationToken);

    /// <summary>Every operation starts here: the one entry point <see cref="EventThreadGuard"/> watches.</summary>
    private ValueTask<DbConnection> ConnectAsync(CancellationToken cancellationToken, bool relaxed = false)
    {
        EventThreadGuard.Check("The index");
        return relaxed ? OpenRelaxedConnectionAsync(cancellationToken) : OpenConnectionAsync(cancellationToken);
    }

    /// <summary>
    /// Waits for this process's turn to write, before the connection opens. The default takes none: PostgreSQL locks
    /// rows. SQLite lets one writer in at a time for the whole file, and its own wait is a poll that blocks a thread
    /// in sleeps of up to 100 ms; queued here, writers wait without a thread and each starts the moment the last ends.
    /// </summary>
    private protected virtual ValueTask<WriteTurn> AwaitWriteTurnAsync(CancellationToken cancellationToken) => default;

    /// <summary>Begins a transaction that holds the write lock from its start.</summary>
    private protected abstract ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Serialises concurrent migrators beyond what <see cref="BeginWriteAsync"/> already does.</summary>
    private protected virtual Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>Runs before the migration transaction (settings that cannot change inside one).</summary>
    private protected virtual Task PrepareStoreAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Runs after a revocation or sweep (<paramref name="shredded"/>: keys were overwritten just now), to push the old
    /// bytes out of logs the engine keeps.
    /// </summary>
    private protected virtual Task AfterShredAsync(bool shredded, CancellationToken cancellationToken) => Task.CompletedTask;

    private protected abstract object ToDbTime(DateTimeOffset time);

    /// <summary>A subquery yielding the strings of the JSON array in <paramref name="parameter"/>, for <c>IN (...)</c>.</summary>
    private protected abstract string JsonArrayElementsSql(string parameter);

    private protected abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await PrepareStoreAsync(cancellationToken).ConfigureAwait(false);
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await LockForMigrationAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, SchemaVersionTableSql, cancellationToken).ConfigureAwait(false);

                long current;
                using (var command = CreateCommand(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
                {
                    current = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
                }

                var known = Migrations[^1].Version;
                if (current > known)
                {
                    throw new InvalidOperationException(
                        $"The index schema is at version {current} but this build knows only up to {known}: upgrade Detach before using this index.");
                }

                foreach (var migration in Migrations)
                {
                    if (migration.Version <= current)
                    {
                        continue;
                    }

                    await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
                    using var record = CreateCommand(connection, transaction,
                        "INSERT INTO schema_version (version, description, applied_at) VALUES (@version, @description, @applied_at)");
                    AddParameter(record, "@version", migration.Version, DbType.Int32);
                    AddParameter(record, "@description", migration.Description, DbType.String);
                    AddTime(record, "@applied_at", _time.GetUtcNow());
                    await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<long> AddAsync(AttachmentRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        var ids = await AddBatchAsync([record], cancellationToken).ConfigureAwait(false);
        return ids[0];
    }

    public async Task<IReadOnlyList<long>> AddBatchAsync(IReadOnlyList<AttachmentRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        foreach (var record in records)
        {
            ValidateNew(record);
        }

        if (records.Count == 0)
        {
            return [];
        }

        var ids = new long[records.Count];
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken, relaxed: records.All(r => r.StoreState == StoreState.Spooled)).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                for (var i = 0; i < records.Count; i++)
                {
                    var r = records[i];
                    using var command = CreateCommand(connection, transaction, InsertSql);
                    AddParameter(command, "@cid", r.Cid, DbType.String);
                    AddParameter(command, "@vault_key", r.VaultKey, DbType.Binary);
                    AddParameter(command, "@plaintext_size", r.PlaintextSize, DbType.Int64);
                    AddParameter(command, "@ciphertext_size", r.CiphertextSize, DbType.Int64);
                    AddParameter(command, "@content_type", r.ContentType, DbType.String);
                    AddParameter(command, "@file_name", r.FileName, DbType.String);
                    AddTime(command, "@created_at", r.CreatedAt);
                    AddTime(command, "@expires_at", r.ExpiresAt);
                    AddParameter(command, "@downloads", r.Downloads, DbType.Int32);
                    AddParameter(command, "@max_downloads", r.MaxDownloads, DbType.Int32);
                    AddParameter(command, "@message_id", r.MessageId, DbType.String);
                    AddParameter(command, "@sender_domain", r.SenderDomain, DbType.String);
                    AddParameter(command, "@recipient_count", r.RecipientCount, DbType.Int32);
                    AddParameter(command, "@store_state", StateText(r.StoreState), DbType.String);
                    AddParameter(command, "@notify_address", r.NotifyAddress, DbType.String);
                    AddParameter(command, "@warning", r.Warning, DbType.String);
                    ids[i] = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return ids;
    }

    public async Task<AttachmentRecord?> FindByCidAsync(string cid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        var found = await QueryAsync($"SELECT {Columns} FROM attachments WHERE cid = @cid", c => AddParameter(c, "@cid", cid, DbType.String), cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public Task<IReadOnlyList<AttachmentRecord>> FindByMessageIdAsync(string messageId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messageId);
        return QueryAsync($"SELECT {Columns} FROM attachments WHERE message_id = @message_id ORDER BY id",
            c => AddParameter(c, "@message_id", messageId, DbType.String), cancellationToken);
    }

    public async Task<bool> TryCountDownloadAsync(string cid, int? limit, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit ?? 1, 1, nameof(limit));

        // One statement: the row lock (Postgres) or the database write lock (SQLite) makes check-and-increment atomic,
        // so concurrent downloads can never count past the limit (the record's own, else the caller's).
        const string sql =
            "UPDATE attachments SET downloads = downloads + 1 WHERE cid = @cid AND revoked_at IS NULL AND expires_at > @now " +
            "AND store_state <> 'orphaned' AND (COALESCE(max_downloads, @limit) IS NULL OR downloads < COALESCE(max_downloads, @limit)) " +
            "RETURNING downloads";
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken, relaxed: true).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, sql);
            AddParameter(command, "@cid", cid, DbType.String);
            AddTime(command, "@now", _time.GetUtcNow());
            AddParameter(command, "@limit", limit, DbType.Int32);
            var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return result is not null and not DBNull;
        }
    }

    public async Task UncountDownloadAsync(string cid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken, relaxed: true).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, "UPDATE attachments SET downloads = downloads - 1 WHERE cid = @cid AND downloads > 0");
            AddParameter(command, "@cid", cid, DbType.String);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<AttachmentRecord>> RevokeAsync(string cidOrMessageId, string reason, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cidOrMessageId);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(reason.Length, MaxReasonLength, nameof(reason));

        var shredded = await QueryAsync(
            $"UPDATE attachments SET vault_key = NULL, notify_address = NULL, revoked_at = @now, revoked_reason = @reason " +
            $"WHERE (cid = @target OR message_id = @target) AND revoked_at IS NULL RETURNING {Columns}",
            c =>
            {
                AddParameter(c, "@target", cidOrMessageId, DbType.String);
                AddParameter(c, "@reason", reason, DbType.String);
                AddTime(c, "@now", now);
            },
            cancellationToken, write: true).ConfigureAwait(false);
        if (shredded.Count > 0)
        {
            await AfterShredAsync(shredded: true, cancellationToken).ConfigureAwait(false);
        }

        return shredded;
    }

    public Task<IReadOnlyList<AttachmentRecord>> ExpireAsync(DateTimeOffset now, CancellationToken cancellationToken = default) =>
        ShredWhereAsync("expires_at <= @now", static _ => { }, RevocationReasons.Expired, now, cancellationToken);

    public Task<IReadOnlyList<AttachmentRecord>> ShredOrphansAsync(DateTimeOffset olderThan, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        ShredWhereAsync("created_at < @older_than AND store_state IN ('orphaned', 'spooled')",
            c => AddTime(c, "@older_than", olderThan), RevocationReasons.Orphaned, now, cancellationToken);

    /// <summary>
    /// Shreds up to <see cref="IndexQuery.MaxLimit"/> unshredded records matching <paramref name="condition"/> in one
    /// statement and returns them. The condition is tested again on each row as it is updated (the outer WHERE), so a
    /// row a concurrent revoke, sweep or commit changed since the subquery saw it is left alone. The condition may
    /// use @now.
    /// </summary>
    private async Task<IReadOnlyList<AttachmentRecord>> ShredWhereAsync(
        string condition, Action<DbCommand> bind, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var shredded = await QueryAsync(
            $"UPDATE attachments SET vault_key = NULL, notify_address = NULL, revoked_at = @now, revoked_reason = @reason " +
            $"WHERE revoked_at IS NULL AND {condition} AND id IN (SELECT id FROM attachments WHERE revoked_at IS NULL AND {condition} " +
            $"ORDER BY id LIMIT @limit) RETURNING {Columns}",
            c =>
            {
                bind(c);
                AddTime(c, "@now", now);
                AddParameter(c, "@reason", reason, DbType.String);
                AddParameter(c, "@limit", IndexQuery.MaxLimit, DbType.Int32);
            },
            cancellationToken, write: true).ConfigureAwait(false);

        // Also runs with nothing new, so a checkpoint a reader blocked earlier is retried by the periodic sweep.
        await AfterShredAsync(shredded.Count > 0, cancellationToken).ConfigureAwait(false);
        return shredded;
    }

    public Task<IReadOnlyList<AttachmentRecord>> ListAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, IndexQuery.MaxLimit, nameof(query));

        // Fixed SQL fragments only; every value goes through a parameter.
        var where = new List<string>();
        switch (query.Status)
        {
            case AttachmentStatus.Active:
                where.Add("revoked_at IS NULL AND expires_at > @now");
                break;
            case AttachmentStatus.Revoked:
                where.Add("revoked_at IS NOT NULL AND revoked_reason <> @expired");
                break;
            case AttachmentStatus.Expired:
                where.Add("((revoked_at IS NULL AND expires_at <= @now) OR (revoked_at IS NOT NULL AND revoked_reason = @expired))");
                break;
            case AttachmentStatus.Any:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(query), query.Status, "Unknown attachment status.");
        }

        if (query.MessageId is not null)
        {
            where.Add("message_id = @message_id");
        }

        if (query.StoreState is not null)
        {
            where.Add("store_state = @store_state");
        }

        if (query.AfterId is not null)
        {
            where.Add(query.NewestFirst ? "id < @after_id" : "id > @after_id");
        }

        var sql = $"SELECT {Columns} FROM attachments" +
            (where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where)) +
            (query.NewestFirst ? " ORDER BY id DESC" : " ORDER BY id") + " LIMIT @limit";
        var now = _time.GetUtcNow();
        return QueryAsync(sql, c =>
        {
            if (query.Status is AttachmentStatus.Active or AttachmentStatus.Expired)
            {
                AddTime(c, "@now", now);
            }

            if (query.Status is AttachmentStatus.Revoked or AttachmentStatus.Expired)
            {
                AddParameter(c, "@expired", RevocationReasons.Expired, DbType.String);
            }

            if (query.MessageId is not null)
            {
                AddParameter(c, "@message_id", query.MessageId, DbType.String);
            }

            if (query.StoreState is { } state)
            {
                AddParameter(c, "@store_state", StateText(state), DbType.String);
            }

            if (query.AfterId is { } after)
            {
                AddParameter(c, "@after_id", after, DbType.Int64);
            }

            AddParameter(c, "@limit", query.Limit, DbType.Int32);
        }, cancellationToken);
    }

    public async Task<StorageEconomy> GetEconomyAsync(CancellationToken cancellationToken = default)
    {
        const string delivered = "store_state = 'stored'";
        const string live = "store_state = 'stored' AND revoked_at IS NULL AND expires_at > @now";
        const string sql =
            $"SELECT COUNT(DISTINCT CASE WHEN {delivered} THEN message_id END), " +
            $"COALESCE(SUM(CASE WHEN {delivered} THEN 1 ELSE 0 END), 0), " +
            $"COALESCE(SUM(CASE WHEN {delivered} THEN ciphertext_size ELSE 0 END), 0), " +
            $"COALESCE(SUM(CASE WHEN {delivered} THEN plaintext_size * recipient_count ELSE 0 END), 0), " +
            $"COUNT(DISTINCT CASE WHEN {live} THEN message_id END), " +
            $"COALESCE(SUM(CASE WHEN {live} THEN 1 ELSE 0 END), 0), " +
            $"COALESCE(SUM(CASE WHEN {live} THEN ciphertext_size ELSE 0 END), 0), " +
            $"COALESCE(SUM(CASE WHEN {live} THEN plaintext_size * recipient_count ELSE 0 END), 0), " +
            "COALESCE(SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0), " +
            "COALESCE(SUM(CASE WHEN store_state = 'orphaned' THEN 1 ELSE 0 END), 0), " +
            "COALESCE(SUM(CASE WHEN store_state = 'spooled' THEN 1 ELSE 0 END), 0) " +
            "FROM attachments";
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, sql);
            AddTime(command, "@now", _time.GetUtcNow());
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);

                // Postgres sums bigints as numeric; Convert handles both that and SQLite's integer.
                long At(int i) => Convert.ToInt64(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
                return new StorageEconomy
                {
                    Messages = At(0),
                    Attachments = At(1),
                    StoredBytes = At(2),
                    MailboxBytes = At(3),
                    LiveMessages = At(4),
                    LiveAttachments = At(5),
                    LiveStoredBytes = At(6),
                    LiveMailboxBytes = At(7),
                    ShreddedAttachments = At(8),
                    OrphanedAttachments = At(9),
                    SpooledAttachments = At(10),
                };
            }
        }
    }

    public async Task<int> MarkAsync(IReadOnlyCollection<string> cids, StoreState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cids);
        if (cids.Count == 0)
        {
            return 0;
        }

        // One statement for a whole message, however many attachments it had: the list travels as one JSON parameter.
        var text = StateText(state);
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null,
                $"UPDATE attachments SET store_state = @store_state WHERE revoked_at IS NULL AND cid IN ({JsonArrayElementsSql("@cids")})");
            AddParameter(command, "@store_state", text, DbType.String);
            AddParameter(command, "@cids", JsonSerializer.Serialize(cids), DbType.String);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task SetWarningAsync(string cid, string warning, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        ArgumentException.ThrowIfNullOrEmpty(warning);
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, "UPDATE attachments SET warning = @warning WHERE cid = @cid");
            AddParameter(command, "@warning", warning.Length > MaxReasonLength ? warning[..MaxReasonLength] : warning, DbType.String);
            AddParameter(command, "@cid", cid, DbType.String);
            if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new KeyNotFoundException($"No attachment with CID {cid} is indexed.");
            }
        }
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                // Reading schema_version also proves the index was migrated, not just reachable.
                using var command = CreateCommand(connection, null, "SELECT COUNT(*) FROM schema_version");
                await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException
                                  || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    private protected virtual ValueTask DisposeAsyncCore() => ValueTask.CompletedTask;

    private protected static DbCommand CreateCommand(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    private protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        using var command = CreateCommand(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private protected static void AddParameter(DbCommand command, string name, object? value, DbType type)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    private void AddTime(DbCommand command, string name, DateTimeOffset time) =>
        AddParameter(command, name, ToDbTime(Normalize(time)), TimeDbType);

    /// <summary>UTC, whole milliseconds: both backends then store and return exactly the same instant.</summary>
    private protected static DateTimeOffset Normalize(DateTimeOffset time) =>
        DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());

    /// <param name="write">The statement writes (an UPDATE ... RETURNING): it waits for its turn first.</param>
    private async Task<IReadOnlyList<AttachmentRecord>> QueryAsync(string sql, Action<DbCommand> bind, CancellationToken cancellationToken, bool write = false)
    {
        var records = new List<AttachmentRecord>();
        using var turn = write ? await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false) : default;
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, sql);
            bind(command);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    records.Add(ReadRecord(reader));
                }
            }
        }

        if (write)
        {
            // UPDATE ... RETURNING has no ORDER BY.
            records.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        }

        return records;
    }

    private AttachmentRecord ReadRecord(DbDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Cid = r.GetString(1),
        VaultKey = r.IsDBNull(2) ? null : r.GetFieldValue<byte[]>(2),
        PlaintextSize = r.GetInt64(3),
        CiphertextSize = r.GetInt64(4),
        ContentType = r.GetString(5),
        FileName = r.GetString(6),
        CreatedAt = ReadTime(r, 7),
        ExpiresAt = ReadTime(r, 8),
        RevokedAt = r.IsDBNull(9) ? null : ReadTime(r, 9),
        RevokedReason = r.IsDBNull(10) ? null : r.GetString(10),
        Downloads = r.GetInt32(11),
        MaxDownloads = r.IsDBNull(12) ? null : r.GetInt32(12),
        MessageId = r.GetString(13),
        SenderDomain = r.GetString(14),
        RecipientCount = r.GetInt32(15),
        StoreState = ParseState(r.GetString(16)),
        NotifyAddress = r.IsDBNull(17) ? null : r.GetString(17),
        Warning = r.IsDBNull(18) ? null : r.GetString(18),
    };

    private static void ValidateNew(AttachmentRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);

        // Messages name the field, never its value: the key must not reach an exception text or a log.
        if (record.VaultKey is null || record.VaultKey.Length != AttachmentRecord.VaultKeyLength)
        {
            throw new ArgumentException($"The vault key must be {AttachmentRecord.VaultKeyLength} bytes.", nameof(record));
        }

        if (string.IsNullOrEmpty(record.Cid))
        {
            throw new ArgumentException("The CID is required.", nameof(record));
        }

        if (record.RevokedAt is not null || record.RevokedReason is not null)
        {
            throw new ArgumentException("A new record cannot be revoked already.", nameof(record));
        }

        if (record.PlaintextSize < 0 || record.CiphertextSize < 0 || record.RecipientCount < 0 || record.Downloads < 0 || record.MaxDownloads < 0)
        {
            throw new ArgumentException("Sizes and counts cannot be negative.", nameof(record));
        }
    }

    private static string StateText(StoreState state) => state switch
    {
        StoreState.Spooled => "spooled",
        StoreState.Stored => "stored",
        StoreState.Orphaned => "orphaned",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown store state."),
    };

    private static StoreState ParseState(string text) => text switch
    {
        "spooled" => StoreState.Spooled,
        "stored" => StoreState.Stored,
        "orphaned" => StoreState.Orphaned,
        _ => throw new InvalidDataException($"Unknown store_state '{text}' in the index."),
    };
}
