using Microsoft.Data.Sqlite;
using Npgsql;

namespace Detach.Vault.Index;

/// <summary>The "Index" configuration section.</summary>
public sealed class IndexOptions
{
    public const string SectionName = "Index";

    public const string SqliteKind = "sqlite";

    public const string PostgresKind = "postgres";

    /// <summary>"sqlite" (default: <c>{DataPath}/index.db</c>) or "postgres" (several instances sharing one vault).</summary>
    public string Kind { get; set; } = SqliteKind;

    /// <summary>Required for postgres (an Npgsql connection string); for sqlite, overrides the default file.</summary>
    public string? ConnectionString { get; set; }

    public bool IsPostgres => string.Equals(Kind?.Trim(), PostgresKind, StringComparison.OrdinalIgnoreCase);

    public bool IsSqlite => string.Equals(Kind?.Trim(), SqliteKind, StringComparison.OrdinalIgnoreCase);

    /// <summary>One message per problem, each naming the configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
            {
                problems.Add($"{SectionName}:ConnectionString is required when {SectionName}:Kind is {PostgresKind}.");
            }
            else if (!Parses(() => new NpgsqlConnectionStringBuilder(ConnectionString)))
            {
                // The text is not echoed: a connection string may carry a password.
                problems.Add($"{SectionName}:ConnectionString is not a valid PostgreSQL (Npgsql) connection string.");
            }
        }
        else if (IsSqlite)
        {
            SqliteConnectionStringBuilder? builder = null;
            if (ConnectionString is not null && !Parses(() => builder = new SqliteConnectionStringBuilder(ConnectionString)))
            {
                problems.Add($"{SectionName}:ConnectionString is not a valid SQLite connection string.");
            }
            else if (builder is not null && (string.IsNullOrWhiteSpace(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory))
            {
                problems.Add($"{SectionName}:ConnectionString must name a database file (Data Source) when {SectionName}:Kind is {SqliteKind}.");
            }
        }
        else
        {
            problems.Add($"{SectionName}:Kind must be '{SqliteKind}' or '{PostgresKind}' (got '{Kind}').");
        }

        return problems;
    }

    private static bool Parses(Func<object> parse)
    {
        try
        {
            parse();
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
