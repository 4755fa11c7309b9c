using System.Data;
using System.Data.Common;
using Detach.Vault.Index;
using Microsoft.Data.Sqlite;

namespace Detach.Vault.Tests.Index;

/// <summary>The shared contract against a real SQLite file in a temporary data folder, plus what only SQLite has.</summary>
public sealed class SqliteAttachmentIndexTests : AttachmentIndexContract
{
    private DirectoryInfo? _dataPath;

    private string DataPath => _dataPath!.FullName;

    private string DatabasePath => Path.Combine(DataPath, SqliteAttachmentIndex.DatabaseFileName);

    protected override ValueTask CreateStoreAsync()
    {
        _dataPath = Directory.CreateTempSubdirectory("detach-index-");
        return ValueTask.CompletedTask;
    }

    protected override ValueTask DeleteStoreAsync()
    {
        SqliteConnection.ClearAllPools();
        _dataPath?.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }

    protected override IAttachmentIndex CreateIndex(TimeProvider time) => SqliteAttachmentIndex.ForDataPath(DataPath, time);

    protected override async Task<DbConnection> OpenRawConnectionAsync()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync(Ct);
        return connection;
    }

    [Fact]
    public async Task Migrate_PutsTheDatabaseInWalModeInTheDataFolder()
    {
        await OpenMigratedAsync();

        Assert.True(File.Exists(DatabasePath));
        Assert.Equal("wal", Assert.Single(await RawColumnAsync("PRAGMA journal_mode")));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task NewDatabase_IsReadableByItsOwnerOnly()
    {
        var nested = Path.Combine(DataPath, "nested", "data");
        await using var index = SqliteAttachmentIndex.ForDataPath(nested, Time);
        await index.PingAsync(Ct);
        await index.MigrateAsync(Ct);
        await index.AddAsync(TestRecords.New(Time.GetUtcNow()), Ct);

        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(ownerOnly, File.GetUnixFileMode(index.DatabasePath));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(index.DatabasePath + "-wal"));
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(nested) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead));
    }

    [Fact]
    public async Task Revoke_LeavesNoCopyOfTheKeyInTheDatabaseOrItsWal()
    {
        var index = (SqliteAttachmentIndex)await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var messageId = TestRecords.NewMessageId();
        var checkpointed = TestRecords.New(now, messageId);
        var inWalOnly = TestRecords.New(now, messageId);
        var kept = TestRecords.New(now);
        await index.AddBatchAsync([checkpointed, kept], Ct);
        Assert.True(await index.TryCheckpointAsync(Ct));
        await index.AddAsync(inWalOnly, Ct);
        Assert.True(FilesContain(DatabasePath, checkpointed.VaultKey!), "the checkpointed key should be in the database file");
        Assert.True(FilesContain(DatabasePath + "-wal", inWalOnly.VaultKey!), "the newest key should be in the WAL");

        // A long reason makes the new row larger than the old one, so SQLite must write it elsewhere in the page and
        // free the old cell: without secure_delete that cell, key included, would stay in the page's free space.
        var shredded = await index.RevokeAsync(messageId, "revoked by admin: " + new string('x', 150), now, Ct);

        Assert.Equal(2, shredded.Count);
        foreach (var key in new[] { checkpointed.VaultKey!, inWalOnly.VaultKey! })
        {
            Assert.False(FilesContain(DatabasePath, key), "a shredded key is still in the database file");
            Assert.False(FilesContain(DatabasePath + "-wal", key), "a shredded key is still in the WAL");
            Assert.False(FilesContain(DatabasePath + "-shm", key), "a shredded key is still in the shared-memory file");
        }

        Assert.True(FilesContain(DatabasePath, kept.VaultKey!), "the search must still find a key that was not shredded");
    }

    [Fact]
    public async Task Expire_LeavesNoCopyOfTheKeyInTheDatabaseOrItsWal()
    {
        var index = (SqliteAttachmentIndex)await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var expiring = TestRecords.New(now.AddDays(-2), lifetime: TimeSpan.FromDays(1));
        await index.AddAsync(expiring, Ct);
        Assert.True(FilesContain(DatabasePath, expiring.VaultKey!) || FilesContain(DatabasePath + "-wal", expiring.VaultKey!));

        Assert.Single(await index.ExpireAsync(now, Ct));

        Assert.False(FilesContain(DatabasePath, expiring.VaultKey!));
        Assert.False(FilesContain(DatabasePath + "-wal", expiring.VaultKey!));
    }

    [Fact]
    public async Task Writers_WhileAnotherProcessHoldsTheLock_QueueBehindOneConnection()
    {
        var index = await OpenMigratedAsync();
        var now = Time.GetUtcNow();
        var marked = TestRecords.New(now);
        await index.AddAsync(marked, Ct);

        // Another process (the CLI beside serve) holds SQLite's write lock.
        await using var other = await OpenRawConnectionAsync();
        await using var lockHolder = await other.BeginTransactionAsync(IsolationLevel.Serializable, Ct);
        using (var write = other.CreateCommand())
        {
            write.Transaction = lockHolder;
            write.CommandText = "UPDATE schema_version SET description = description";
            await write.ExecuteNonQueryAsync(Ct);
        }

        var before = OpenDatabaseFiles();
        var added = Enumerable.Range(0, 12).Select(_ => TestRecords.New(now)).ToList();
        var writes = added.Select(r => (Task)Task.Run(() => index.AddAsync(r, Ct), Ct)).ToList();
        writes.Add(Task.Run(() => index.MarkAsync([marked.Cid], StoreState.Stored, Ct), Ct));
        writes.Add(Task.Run(() => index.TryCountDownloadAsync(marked.Cid, null, Ct), Ct));
        writes.Add(Task.Run(() => index.ExpireAsync(now, Ct), Ct));

        // Without a queue each writer would open its own connection and poll the lock from a blocked thread.
        var most = before;
        for (var i = 0; i < 40; i++)
        {
            await Task.Delay(10, Ct);
            most = Math.Max(most, OpenDatabaseFiles());
        }

        Assert.False(writes.Any(w => w.IsCompleted), "a write went through while another process held the lock");
        Assert.InRange(most, before, before + 1);

        await lockHolder.CommitAsync(Ct);
        await Task.WhenAll(writes);
        foreach (var record in added)
        {
            Assert.NotNull(await index.FindByCidAsync(record.Cid, Ct));
        }

        Assert.Equal(1, (await index.FindByCidAsync(marked.Cid, Ct))!.Downloads);
    }

    /// <summary>This process's open descriptors of the database file: one per SQLite connection.</summary>
    private int OpenDatabaseFiles() =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Count(fd => fd.LinkTarget == DatabasePath);

    [Fact]
    public async Task Factory_DefaultOptions_OpenTheIndexInTheDataFolder()
    {
        await using var index = AttachmentIndexFactory.Create(new IndexOptions(), DataPath, Time);
        await index.MigrateAsync(Ct);

        Assert.IsType<SqliteAttachmentIndex>(index);
        Assert.True(File.Exists(DatabasePath));
        Assert.True(await index.PingAsync(Ct));
    }

    private static bool FilesContain(string path, byte[] needle)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        // Shared read: the index still has the files open.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.GetBuffer().AsSpan(0, (int)copy.Length).IndexOf(needle) >= 0;
    }
}
