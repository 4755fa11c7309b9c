namespace Detach.Vault.Index;

/// <summary>PostgreSQL migrations. Times are timestamptz; append new versions, never edit applied ones.</summary>
internal static class PostgresSchema
{
    /// <summary>Key of the transaction-scoped advisory lock migrators take ("DetachIx" in ASCII).</summary>
    public const long MigrationLockKey = 0x4465746163684978;

    public const string SchemaVersionTable =
        "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL)";

    public static readonly IReadOnlyList<IndexMigration> Migrations =
    [
        new(1, "attachments table", """
            CREATE TABLE attachments (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                cid text NOT NULL UNIQUE,
                vault_key bytea NULL,
                plaintext_size bigint NOT NULL,
                ciphertext_size bigint NOT NULL,
                content_type text NOT NULL,
                file_name text NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                revoked_at timestamptz NULL,
                revoked_reason text NULL,
                downloads integer NOT NULL DEFAULT 0,
                max_downloads integer NULL,
                message_id text NOT NULL,
                sender_domain text NOT NULL,
                recipient_count integer NOT NULL,
                store_state text NOT NULL CHECK (store_state IN ('spooled', 'stored', 'orphaned'))
            );
            CREATE INDEX ix_attachments_message_id ON attachments (message_id);
            CREATE INDEX ix_attachments_unshredded_expiry ON attachments (expires_at) WHERE revoked_at IS NULL;
            """),
        new(2, "sender notices", """
            ALTER TABLE attachments ADD COLUMN notify_address text NULL;
            CREATE TABLE sender_notices (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                cid text NOT NULL UNIQUE,
                recipient text NOT NULL,
                file_name text NOT NULL,
                message_id text NOT NULL,
                downloaded_at timestamptz NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL,
                last_error text NULL
            );
            CREATE INDEX ix_sender_notices_due ON sender_notices (next_attempt_at);
            """),
        new(3, "warning column (attachments stored despite a scanner's finding)", """
            ALTER TABLE attachments ADD COLUMN warning text NULL;
            """),
    ];
}
