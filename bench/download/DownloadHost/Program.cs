// Benchmark host for the download gateway: stores one random file of --size-mib MiB through the real
// encryptor into a local store under --data, measures the format's own decrypt speed on it (store file →
// RecordDecryptor → nowhere), then serves the gateway on 127.0.0.1:--port until stopped.
// Prints "cid=... key=... size=..." and "decrypt_mb_s=..." then "ready" on stdout.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Http;
using Detach.Gateway.Metrics;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

var data = Option("--data") ?? Path.Combine(Path.GetTempPath(), "detach-download-bench");
var sizeMib = int.Parse(Option("--size-mib") ?? "100", CultureInfo.InvariantCulture);
var port = int.Parse(Option("--port") ?? "18080", CultureInfo.InvariantCulture);
Directory.CreateDirectory(data);

var store = new LocalContentStore(Path.Combine(data, "store"));
var index = SqliteAttachmentIndex.ForDataPath(data);
await index.MigrateAsync();

using var key = FileKey.Generate();
StoredContent stored;
await using (var encrypting = new RecordEncryptingStream(new RandomStream(sizeMib * 1024L * 1024L), key))
{
    stored = await store.AddAsync(encrypting, CancellationToken.None);
}

var now = DateTimeOffset.UtcNow;
await index.AddAsync(new AttachmentRecord
{
    Cid = stored.Cid.ToString(),
    VaultKey = key.VaultKey.ToArray(),
    PlaintextSize = sizeMib * 1024L * 1024L,
    CiphertextSize = stored.Size,
    ContentType = "application/octet-stream",
    FileName = "bench.bin",
    CreatedAt = now,
    ExpiresAt = now.AddDays(1),
    MessageId = "<bench-" + Guid.NewGuid().ToString("N") + "@bench.example>",
    SenderDomain = "bench.example",
    RecipientCount = 1,
    StoreState = StoreState.Stored,
});
Console.WriteLine($"cid={stored.Cid} key={LinkKeyText.Encode(key.LinkKey)} size={sizeMib * 1024L * 1024L}");

// The format's decrypt speed on this machine: the ceiling the gateway is measured against. Also served at
// /bench/decrypt so the driver can pair each download measurement with one taken under the same load.
// RecordDecryptor.DecryptRangeAsync over the whole file into nothing: the very call the gateway makes,
// without HTTP around it.
async Task<double> MeasureDecryptAsync()
{
    var watch = Stopwatch.StartNew();
    await RecordDecryptor.DecryptRangeAsync(
        async (offset, length, ct) => await store.OpenReadAsync(stored.Cid, offset, length, ct),
        stored.Size, key, 0, sizeMib * 1024L * 1024L, Stream.Null, CancellationToken.None);
    return sizeMib * 1024.0 * 1024.0 / watch.Elapsed.TotalSeconds / 1e6;
}

var best = 0.0;
for (var run = 0; run < 3; run++)
{
    best = Math.Max(best, await MeasureDecryptAsync());
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decrypt_mb_s={best:0}"));

var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
builder.Logging.ClearProviders();
builder.Services.AddSingleton(Options.Create(new DetachOptions { DataPath = data, PublicUrl = $"http://127.0.0.1:{port}" }));
builder.Services.AddSingleton(Options.Create(new GatewayOptions { Listen = $"http://127.0.0.1:{port}", KeyAttemptsPerMinute = 10_000 }));
builder.Services.AddSingleton<DetachMetrics>();
builder.Services.AddSingleton<IContentStore>(store);
builder.Services.AddSingleton<IAttachmentIndex>(index);
builder.Services.AddDownloadGateway();
if (Environment.GetEnvironmentVariable("BENCH_RESPONSE_BUFFER") is { Length: > 0 } buffer)
{
    // To compare Kestrel send buffers against the gateway's own (DownloadGatewayExtensions.ResponseBufferBytes).
    builder.Services.PostConfigure<SocketTransportOptions>(sockets => sockets.MaxWriteBufferSize = long.Parse(buffer, CultureInfo.InvariantCulture));
}
var app = builder.Build();
app.UseDownloadGateway();
app.MapDownloadGateway();
app.MapGet("/bench/decrypt", async () =>
{
    var speed = await MeasureDecryptAsync();
    return string.Create(CultureInfo.InvariantCulture, $"{speed:0}\n");
});
await app.StartAsync();
Console.WriteLine("ready");
await app.WaitForShutdownAsync();
await index.DisposeAsync();

string? Option(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

/// <summary>Pseudo-random bytes of a given length without holding them in memory.</summary>
internal sealed class RandomStream(long length) : Stream
{
    private readonly Random _random = new(42);
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var take = (int)Math.Min(buffer.Length, length - _position);
        _random.NextBytes(buffer[..take]);
        _position += take;
        return take;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
