namespace Detach.Vault.Index;

/// <summary>SQLite migrations. Times are unix milliseconds (UTC); append new versions, never edit applied ones.</summary>
internal static class SqliteSchema
{
    public const string SchemaVersionTable =
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)";

    public static readonly IReadOnlyList<IndexMigration> Migrations =
    [
        new(1, "attachments table", """
            CREATE TABLE attachments (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cid TEXT NOT NULL UNIQUE,
                vault_key BLOB NULL,
                plaintext_size INTEGER NOT NULL,
                ciphertext_size INTEGER NOT NULL,
                content_type TEXT NOT NULL,
                file_name TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                revoked_at INTEGER NULL,
                revoked_reason TEXT NULL,
                downloads INTEGER NOT NULL DEFAULT 0,
                max_downloads INTEGER NULL,
                message_id TEXT NOT NULL,
                sender_domain TEXT NOT NULL,
                recipient_count INTEGER NOT NULL,
                store_state TEXT NOT NULL CHECK (store_state IN ('spooled', 'stored', 'orphaned'))
            );
            CREATE INDEX ix_attachments_message_id ON attachments (message_id);
            CREATE INDEX ix_attachments_unshredded_expiry ON attachments (expires_at) WHERE revoked_at IS NULL;
            """),
        new(2, "sender notices", """
            ALTER TABLE attachments ADD COLUMN notify_address TEXT NULL;
            CREATE TABLE sender_notices (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cid TEXT NOT NULL UNIQUE,
                recipient TEXT NOT NULL,
                file_name TEXT NOT NULL,
                message_id TEXT NOT NULL,
                downloaded_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL,
                last_error TEXT NULL
            );
            CREATE INDEX ix_sender_notices_due ON sender_notices (next_attempt_at);
            """),
        new(3, "warning column (attachments stored despite a scanner's finding)", """
            ALTER TABLE attachments ADD COLUMN warning TEXT NULL;
            """),
    ];
}
