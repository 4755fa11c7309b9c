using System.Data;

namespace Detach.Vault.Index;

/// <summary>The sender-notice queue (<see cref="ISenderNoticeQueue"/>): the table sender_notices beside attachments.</summary>
public abstract partial class SqlAttachmentIndex
{
    private const int MaxErrorLength = 500;

    public async Task<bool> QueueFirstDownloadNoticeAsync(string cid, DateTimeOffset downloadedAt, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                string recipient, fileName, messageId;
                using (var find = CreateCommand(connection, transaction,
                    "SELECT notify_address, file_name, message_id FROM attachments WHERE cid = @cid AND notify_address IS NOT NULL AND revoked_at IS NULL"))
                {
                    AddParameter(find, "@cid", cid, DbType.String);
                    var reader = await find.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        {
                            return false; // not asked for, already queued, or shredded
                        }

                        (recipient, fileName, messageId) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
                    }
                }

                // The claim: re-tested on the row as it is updated (under its lock on PostgreSQL, under the write lock
                // on SQLite), so of two instances racing here only one changes it.
                using (var take = CreateCommand(connection, transaction, "UPDATE attachments SET notify_address = NULL WHERE cid = @cid AND notify_address IS NOT NULL"))
                {
                    AddParameter(take, "@cid", cid, DbType.String);
                    if (await take.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                    {
                        return false;
                    }
                }

                using (var queue = CreateCommand(connection, transaction,
                    "INSERT INTO sender_notices (cid, recipient, file_name, message_id, downloaded_at, attempts, next_attempt_at) " +
                    "VALUES (@cid, @recipient, @file_name, @message_id, @downloaded_at, 0, @downloaded_at)"))
                {
                    AddParameter(queue, "@cid", cid, DbType.String);
                    AddParameter(queue, "@recipient", recipient, DbType.String);
                    AddParameter(queue, "@file_name", fileName, DbType.String);
                    AddParameter(queue, "@message_id", messageId, DbType.String);
                    AddTime(queue, "@downloaded_at", downloadedAt);
                    await queue.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }
        }
    }

    public async Task<IReadOnlyList<SenderNotice>> LeaseDueNoticesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseUntil, now);

        // The outer test re-checks each row as it is updated: a notice another instance leased meanwhile is skipped.
        const string sql =
            "UPDATE sender_notices SET attempts = attempts + 1, next_attempt_at = @lease_until " +
            "WHERE next_attempt_at <= @now AND id IN (SELECT id FROM sender_notices WHERE next_attempt_at <= @now ORDER BY id LIMIT @limit) " +
            "RETURNING id, cid, recipient, file_name, message_id, downloaded_at, attempts";
        var notices = new List<SenderNotice>();
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, sql);
            AddTime(command, "@now", now);
            AddTime(command, "@lease_until", leaseUntil);
            AddParameter(command, "@limit", limit, DbType.Int32);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    notices.Add(new SenderNotice(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        ReadTime(reader, 5), reader.GetInt32(6)));
                }
            }
        }

        notices.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        return notices;
    }

    public async Task RemoveNoticeAsync(long id, CancellationToken cancellationToken = default)
    {
        await ExecuteNoticeAsync("DELETE FROM sender_notices WHERE id = @id", id, static _ => { }, cancellationToken).ConfigureAwait(false);

        // The address goes the way of a shredded key: out of the engine's logs too, not only out of the table.
        await AfterShredAsync(shredded: true, cancellationToken).ConfigureAwait(false);
    }

    public Task PostponeNoticeAsync(long id, DateTimeOffset retryAt, string error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(error);
        return ExecuteNoticeAsync("UPDATE sender_notices SET next_attempt_at = @retry_at, last_error = @error WHERE id = @id", id, c =>
        {
            AddTime(c, "@retry_at", retryAt);
            AddParameter(c, "@error", error.Length <= MaxErrorLength ? error : error[..MaxErrorLength], DbType.String);
        }, cancellationToken);
    }

    private async Task ExecuteNoticeAsync(string sql, long id, Action<System.Data.Common.DbCommand> bind, CancellationToken cancellationToken)
    {
        using var turn = await AwaitWriteTurnAsync(cancellationToken).ConfigureAwait(false);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = CreateCommand(connection, null, sql);
            AddParameter(command, "@id", id, DbType.Int64);
            bind(command);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
