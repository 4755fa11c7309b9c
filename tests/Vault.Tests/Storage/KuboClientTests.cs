using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

[Collection(SharedIpfsNode.Name)]
public sealed class KuboClientTests(IpfsNodeFixture node) : IDisposable
{
    private readonly string _storeRoot = Path.Combine(Path.GetTempPath(), "detach-store-" + Guid.NewGuid().ToString("N")[..12]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_storeRoot))
        {
            Directory.Delete(_storeRoot, recursive: true);
        }
    }

    [Fact]
    public async Task Add_ThenCat_ReturnsTheBytes_AndPins()
    {
        node.RequireNode();
        var client = node.CreateClient();
        var bytes = PatternStream.Bytes(101, 700_000);
        var added = await client.AddAsync(new PatternStream(101, bytes.Length), "roundtrip", Ct);
        Assert.Equal(bytes.Length, added.Size);
        Assert.True(added.DagSize > added.Size);

        await using (var cat = await client.CatAsync(added.Cid, cancellationToken: Ct))
        {
            Assert.Equal(bytes, await LocalContentStoreTests.ReadAllAsync(cat));
        }
        var pins = await client.PinLsAsync(added.Cid, Ct);
        Assert.Contains(pins, p => p.Cid == added.Cid);
        Assert.Equal(bytes.Length, await client.FileSizeAsync(added.Cid, Ct));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(262_140, 10)]
    [InlineData(500_000, 300_000)]
    [InlineData(699_999, 100)]
    public async Task Cat_HonoursOffsetAndLength(long offset, long length)
    {
        node.RequireNode();
        var client = node.CreateClient();
        var bytes = PatternStream.Bytes(102, 700_000);
        var added = await client.AddAsync(new MemoryStream(bytes), null, Ct);
        await using var cat = await client.CatAsync(added.Cid, offset, length, Ct);
        var end = (int)Math.Min(bytes.Length, offset + length);
        Assert.Equal(bytes[(int)offset..end], await LocalContentStoreTests.ReadAllAsync(cat));
    }

    [Fact]
    public async Task PinRm_Unpins_AndASecondRmIsNotFound()
    {
        node.RequireNode();
        var client = node.CreateClient();
        var added = await client.AddAsync(new MemoryStream(PatternStream.Bytes(103, 1000)), null, Ct);
        await client.PinRmAsync(added.Cid, Ct);
        Assert.Empty(await client.PinLsAsync(added.Cid, Ct));
        await Assert.ThrowsAsync<KuboNotFoundException>(() => client.PinRmAsync(added.Cid, Ct));

        await client.PinAddAsync(added.Cid, Ct);
        Assert.Contains(await client.PinLsAsync(null, Ct), p => p.Cid == added.Cid);
    }

    [Fact]
    public async Task IdAndRepoStat_Answer()
    {
        node.RequireNode();
        var client = node.CreateClient();
        var id = await client.IdAsync(Ct);
        Assert.False(string.IsNullOrEmpty(id.Id));
        var stat = await client.RepoStatAsync(Ct);
        Assert.True(stat.StorageMax > 0);
    }

    [Fact]
    public async Task AddKuboClient_RegistersATypedClientWithItsOptions()
    {
        node.RequireNode();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddKuboClient(o => o.ApiUrl = node.ApiUrl);
        using var provider = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<KuboClient>(provider);
        Assert.Equal(node.ApiUrl, client.Options.ApiUrl);
        Assert.False(string.IsNullOrEmpty((await client.IdAsync(Ct)).Id));
    }

    [Fact]
    public async Task Cat_UnknownCid_FailsWithNotFoundWithinTheTimeout()
    {
        node.RequireNode();
        var client = node.CreateClient(requestTimeout: TimeSpan.FromSeconds(2));
        var unknown = Cid.Compute(Cid.RawCodec, RandomNumberGenerator.GetBytes(32));
        await Assert.ThrowsAsync<KuboNotFoundException>(() => client.CatAsync(unknown, cancellationToken: Ct));
        var store = new KuboContentStore(client);
        await Assert.ThrowsAsync<ContentNotFoundException>(() => store.OpenReadAsync(unknown, 0, null, Ct));
        Assert.Null(await store.GetSizeAsync(unknown, Ct));
    }

    [Fact]
    public async Task Calls_ToAClosedPort_AreUnavailable()
    {
        var client = new KuboClient(new HttpClient(), Microsoft.Extensions.Options.Options.Create(new KuboOptions
        {
            ApiUrl = new Uri($"http://127.0.0.1:{FreePort.Next()}"),
            MaxRetries = 1,
            RetryDelay = TimeSpan.FromMilliseconds(10),
        }));
        await Assert.ThrowsAsync<KuboUnavailableException>(() => client.IdAsync(Ct));
        await Assert.ThrowsAsync<KuboUnavailableException>(() => client.AddAsync(new MemoryStream([1, 2, 3]), null, Ct));
        var store = new KuboContentStore(client);
        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.AddAsync(new MemoryStream([1]), Ct));
        Assert.False(await store.IsAvailableAsync(Ct));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(262_144)]
    [InlineData(262_145)]
    [InlineData(45 * 1024 * 1024)] // 180 chunks: more than 174, so the DAG has two levels
    public async Task LocalStore_ComputesTheNodesCid(int size)
    {
        node.RequireNode();
        var client = node.CreateClient();
        var seed = (ulong)size + 1000;
        var local = await new LocalContentStore(_storeRoot).AddAsync(new PatternStream(seed, size), Ct);
        var remote = await client.AddAsync(new PatternStream(seed, size), null, Ct);
        Assert.Equal(remote.Cid, local.Cid);
        Assert.Equal(remote.Cid.ToString(), local.Cid.ToString());
        Assert.Equal(size, local.Size);
        Assert.Equal(size, remote.Size);
        Assert.Equal(size, await client.FileSizeAsync(remote.Cid, Ct));
    }

    [Fact]
    public async Task JsIpfsBase58Cid_EqualsTheBase32Cid()
    {
        node.RequireNode();
        // Without cid-base=base32, js-ipfs prints CIDv1 in base58btc ("zb2…"/"zdj…").
        using var http = new HttpClient();
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(PatternStream.Bytes(104, 300_000));
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", "blob");
        using var response = await http.PostAsync(new Uri(node.ApiUrl, "/api/v0/add?cid-version=1&raw-leaves=true&pin=false"), form, Ct);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var printed = json.RootElement.GetProperty("Hash").GetString()!;
        Assert.StartsWith("z", printed, StringComparison.Ordinal);

        var local = await new LocalContentStore(_storeRoot).AddAsync(new PatternStream(104, 300_000), Ct);
        Assert.StartsWith("bafy", local.Cid.ToString(), StringComparison.Ordinal);
        Assert.Equal(local.Cid, Cid.Parse(printed));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(3 * 1024 * 1024 + 17)]
    public async Task LocalStore_Car_ImportsIntoTheNodeUnderTheSameCid(int size)
    {
        node.RequireNode();
        var client = node.CreateClient();
        var store = new LocalContentStore(_storeRoot);
        var seed = (ulong)size + 2000;
        var local = await store.AddAsync(new PatternStream(seed, size), Ct);

        var roots = await client.DagImportAsync((stream, cancellationToken) => new CarExporter(store).WriteAsync(local.Cid, stream, cancellationToken), Ct);
        Assert.Equal([local.Cid], roots);
        Assert.Contains(await client.PinLsAsync(local.Cid, Ct), p => p.Cid == local.Cid);
        await using var cat = await client.CatAsync(local.Cid, cancellationToken: Ct);
        Assert.Equal(PatternStream.Sha256(seed, size), SHA256.HashData(await LocalContentStoreTests.ReadAllAsync(cat)));
    }

    [Fact]
    public async Task DagImport_FromASeekableCarStream()
    {
        node.RequireNode();
        var client = node.CreateClient();
        var store = new LocalContentStore(_storeRoot);
        var local = await store.AddAsync(new PatternStream(105, 600_000), Ct);
        using var car = new MemoryStream();
        await new CarExporter(store).WriteAsync(local.Cid, car, Ct);
        car.Position = 0;
        Assert.Equal([local.Cid], await client.DagImportAsync(car, Ct));
    }

    [Fact]
    public async Task Add_SlowSource_IsNotMistakenForAHungNode()
    {
        node.RequireNode();
        // The node must take bytes within RequestTimeout (+5 s grace); the sender may be slower.
        var client = node.CreateClient(requestTimeout: TimeSpan.FromSeconds(1));
        var source = new PausingStream(new PatternStream(108, 2_000_000), pauseAfter: 1_000_000, pause: TimeSpan.FromSeconds(8));
        var added = await client.AddAsync(source, null, Ct);
        var expected = await new LocalContentStore(_storeRoot).AddAsync(new PatternStream(108, 2_000_000), Ct);
        Assert.Equal(expected.Cid, added.Cid);
    }

    /// <summary>Pauses once, as a slow SMTP client would, after a number of bytes.</summary>
    private sealed class PausingStream(Stream inner, long pauseAfter, TimeSpan pause) : Stream
    {
        private long _position;
        private bool _paused;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_paused && _position >= pauseAfter)
            {
                _paused = true;
                await Task.Delay(pause, cancellationToken);
            }
            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, 65_536)], cancellationToken);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task CarExporter_RefusesACorruptLocalCopy()
    {
        var store = new LocalContentStore(_storeRoot);
        var local = await store.AddAsync(new PatternStream(106, 300_000), Ct);
        var path = store.PathOf(local.Cid);
        var bytes = await File.ReadAllBytesAsync(path, Ct);
        bytes[123] ^= 1;
        await File.WriteAllBytesAsync(path, bytes, Ct);
        await Assert.ThrowsAsync<InvalidDataException>(() => new CarExporter(store).WriteAsync(local.Cid, Stream.Null, Ct));
    }
}
