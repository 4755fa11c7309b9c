using System.Data.Common;
using Detach.Vault.Index;
using Npgsql;

namespace Detach.Vault.Tests.Index;

/// <summary>
/// The shared contract against a real PostgreSQL server. Each test gets its own schema (via Search Path), so tests
/// see an empty index and migrations run from scratch.
/// </summary>
public sealed class NpgsqlAttachmentIndexTests(PostgresServerFixture server) : AttachmentIndexContract, IClassFixture<PostgresServerFixture>
{
    private readonly string _schema = "t_" + Guid.NewGuid().ToString("N");
    private string? _connectionString;

    protected override async ValueTask CreateStoreAsync()
    {
        if (server.ConnectionString is null)
        {
            return;
        }

        await using (var connection = new NpgsqlConnection(server.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {_schema}", connection);
            await command.ExecuteNonQueryAsync(Ct);
        }

        _connectionString = new NpgsqlConnectionStringBuilder(server.ConnectionString) { SearchPath = _schema }.ToString();
    }

    protected override async ValueTask DeleteStoreAsync()
    {
        if (_connectionString is null)
        {
            return;
        }

        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand($"DROP SCHEMA {_schema} CASCADE", connection);
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    protected override IAttachmentIndex CreateIndex(TimeProvider time)
    {
        if (server.SkipReason is not null)
        {
            Assert.Skip(server.SkipReason);
        }

        return new NpgsqlAttachmentIndex(_connectionString!, time);
    }

    protected override async Task<DbConnection> OpenRawConnectionAsync()
    {
        var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(Ct);
        return connection;
    }

    [Fact]
    public async Task Factory_PostgresOptions_OpenThisServer()
    {
        await using var index = AttachmentIndexFactory.Create(
            new IndexOptions { Kind = "postgres", ConnectionString = _connectionString ?? "Host=unused" }, "/nonexistent", Time);
        if (server.SkipReason is not null)
        {
            Assert.Skip(server.SkipReason);
        }

        await index.MigrateAsync(Ct);

        Assert.IsType<NpgsqlAttachmentIndex>(index);
        Assert.True(await index.PingAsync(Ct));
    }
}

/// <summary>Needs no server: what the index says when there is none.</summary>
public sealed class NpgsqlUnreachableTests
{
    [Fact]
    public async Task Ping_WithNoServerListening_IsFalse()
    {
        var port = FreePort.Next();
        await using var index = new NpgsqlAttachmentIndex($"Host=127.0.0.1;Port={port};Username=nobody;Database=none;Timeout=3");

        Assert.False(await index.PingAsync(TestContext.Current.CancellationToken));
    }
}
