using System.Net;
using System.Security.Cryptography;
using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Http;
using Detach.Gateway.Metrics;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Tests.Download;

/// <summary>A file stored through the real encryptor: its CID, the link key text and the original bytes' hash.</summary>
public sealed record StoredFile(string Cid, string LinkKey, string FileName, long Length, string Sha256);

/// <summary>
/// The download gateway on a real Kestrel socket (127.0.0.1, port picked by the OS), over a real
/// LocalContentStore and SqliteAttachmentIndex in a temporary folder. Every log line is captured.
/// </summary>
public sealed class GatewayTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayTestHost(WebApplication app, DirectoryInfo folder, LocalContentStore localStore, SqliteAttachmentIndex index, DetachMetrics metrics, CapturedLogs logs)
    {
        this._app = app;
        Folder = folder;
        LocalStore = localStore;
        Index = index;
        Metrics = new MetricTotals(metrics);
        Logs = logs;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        BaseUrl = address.TrimEnd('/');
    }

    public string BaseUrl { get; }

    public DirectoryInfo Folder { get; }

    public LocalContentStore LocalStore { get; }

    public SqliteAttachmentIndex Index { get; }

    public MetricTotals Metrics { get; }

    public CapturedLogs Logs { get; }

    public string PageUrl(StoredFile file) => $"{BaseUrl}/d/{file.Cid}";

    public string FileUrl(StoredFile file) => $"{BaseUrl}/d/{file.Cid}/file";

    /// <summary>
    /// The file's record once the gateway has counted <paramref name="downloads"/> whole downloads (or after 10 s, for
    /// the assertion to fail on). The gateway counts a download after its response completed, so a client that has
    /// every byte may look before the count is written.
    /// </summary>
    public async Task<AttachmentRecord> CountedAsync(StoredFile file, int downloads)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var record = await Index.FindByCidAsync(file.Cid, TestContext.Current.CancellationToken)
                ?? throw new InvalidOperationException($"No record for {file.Cid}.");
            if ((record.Downloads >= downloads && Metrics.Downloads >= downloads) || DateTime.UtcNow > deadline)
            {
                return record;
            }

            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    public static async Task<GatewayTestHost> StartAsync(
        Action<GatewayOptions>? configure = null, Func<IContentStore, IContentStore>? wrapStore = null,
        Action<IServiceCollection>? services = null)
    {
        var folder = Directory.CreateTempSubdirectory("detach-gateway-");
        var localStore = new LocalContentStore(Path.Combine(folder.FullName, "store"));
        var index = SqliteAttachmentIndex.ForDataPath(folder.FullName);
        await index.MigrateAsync(TestContext.Current.CancellationToken);
        var gatewayOptions = new GatewayOptions { Listen = "http://127.0.0.1:0" };
        configure?.Invoke(gatewayOptions);
        var logs = new CapturedLogs();
        var metrics = new DetachMetrics();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = folder.FullName });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton(Options.Create(new DetachOptions { DataPath = folder.FullName, PublicUrl = "http://localhost:8080" }));
        builder.Services.AddSingleton(Options.Create(gatewayOptions));
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(wrapStore?.Invoke(localStore) ?? localStore);
        builder.Services.AddSingleton<IAttachmentIndex>(index);
        services?.Invoke(builder.Services);
        builder.Services.AddDownloadGateway();

        var app = builder.Build();
        app.UseDownloadGateway();
        app.MapDownloadGateway();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new GatewayTestHost(app, folder, localStore, index, metrics, logs);
    }

    /// <summary>Encrypts <paramref name="plaintext"/> with a fresh key into the store and indexes it, as the vault does.</summary>
    public async Task<StoredFile> StoreAsync(
        Stream plaintext, string fileName, string contentType = "application/octet-stream",
        DateTimeOffset? expiresAt = null, int? maxDownloads = null, string senderDomain = "example.org")
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var cancellationToken = TestContext.Current.CancellationToken;
        using var key = FileKey.Generate();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingReadStream(plaintext, hash);
        StoredContent stored;
        await using (var encrypting = new RecordEncryptingStream(hashing, key, leaveOpen: true))
        {
            stored = await LocalStore.AddAsync(encrypting, cancellationToken);
        }

        var now = DateTimeOffset.UtcNow;
        await Index.AddAsync(new AttachmentRecord
        {
            Cid = stored.Cid.ToString(),
            VaultKey = key.VaultKey.ToArray(),
            PlaintextSize = hashing.BytesRead,
            CiphertextSize = stored.Size,
            ContentType = contentType,
            FileName = fileName,
            CreatedAt = now,
            ExpiresAt = expiresAt ?? now.AddDays(30),
            MaxDownloads = maxDownloads,
            MessageId = "<" + Guid.NewGuid().ToString("N") + "@" + senderDomain + ">",
            SenderDomain = senderDomain,
            RecipientCount = 1,
            StoreState = StoreState.Stored,
        }, cancellationToken);
        return new StoredFile(stored.Cid.ToString(), LinkKeyText.Encode(key.LinkKey), fileName, hashing.BytesRead, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    public Task<StoredFile> StoreAsync(byte[] plaintext, string fileName, string contentType = "application/octet-stream",
        DateTimeOffset? expiresAt = null, int? maxDownloads = null, string senderDomain = "example.org") =>
        StoreAsync(new MemoryStream(plaintext), fileName, contentType, expiresAt, maxDownloads, senderDomain);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        await Index.DisposeAsync();
        Metrics.Dispose();
        try
        {
            Folder.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still open by a dying connection; the temp folder is cleaned by the system later.
        }
    }

    /// <summary>Counts the bytes read through it and hashes them.</summary>
    private sealed class HashingReadStream(Stream inner, IncrementalHash hash) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            hash.AppendData(buffer[..read]);
            BytesRead += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            hash.AppendData(buffer.Span[..read]);
            BytesRead += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
