using Detach.Vault.Index;

namespace Detach.Vault.Tests.Index;

public sealed class IndexOptionsTests
{
    [Fact]
    public void Defaults_AreSqliteAndValid()
    {
        var options = new IndexOptions();

        Assert.Equal("sqlite", options.Kind);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void Postgres_WithoutConnectionString_NamesTheMissingKey()
    {
        var problems = new IndexOptions { Kind = "postgres" }.Validate();

        Assert.Equal(["Index:ConnectionString is required when Index:Kind is postgres."], problems);
    }

    [Fact]
    public void Postgres_KindIsCaseInsensitive()
    {
        Assert.Empty(new IndexOptions { Kind = "PostgreS", ConnectionString = "Host=db;Username=detach;Database=detach" }.Validate());
    }

    [Fact]
    public void UnknownKind_NamesTheKeyAndTheChoices()
    {
        var problem = Assert.Single(new IndexOptions { Kind = "mysql" }.Validate());

        Assert.Equal("Index:Kind must be 'sqlite' or 'postgres' (got 'mysql').", problem);
    }

    [Fact]
    public void MalformedConnectionString_IsReportedWithoutEchoingIt()
    {
        const string secret = "Host=db;Password=hunter2;Bogus Keyword=1";

        var postgres = Assert.Single(new IndexOptions { Kind = "postgres", ConnectionString = secret }.Validate());
        var sqlite = Assert.Single(new IndexOptions { Kind = "sqlite", ConnectionString = "Data Source=x.db;Nonsense=1" }.Validate());

        Assert.StartsWith("Index:ConnectionString is not a valid PostgreSQL", postgres, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", postgres, StringComparison.Ordinal);
        Assert.StartsWith("Index:ConnectionString is not a valid SQLite", sqlite, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_RejectsInvalidOptionsWithTheirMessages()
    {
        var error = Assert.Throws<ArgumentException>(() => AttachmentIndexFactory.Create(new IndexOptions { Kind = "postgres" }, "/tmp"));

        Assert.Contains("Index:ConnectionString is required when Index:Kind is postgres.", error.Message, StringComparison.Ordinal);
    }
}
