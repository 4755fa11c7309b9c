using BenchmarkDotNet.Attributes;
using Detach.Vault.Storage;
using Microsoft.Extensions.Options;

namespace Detach.Bench;

/// <summary>
/// Storing and reading back a 50 MiB blob. "local" is the embedded store (hash into the UnixFS
/// DAG + write + fsync + rename). With DETACH_BENCH_IPFS_API=http://host:port also "kubo" (add with
/// pin over the RPC API, cat) and "spool" (the spooling decorator with the node up: the node add
/// plus the local tee copy that is thrown away).
/// Run: dotnet run -c Release --project bench/Detach.Bench -- --filter '*StoreBenchmarks*'
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class StoreBenchmarks
{
    private const int BlobSize = 50 * 1024 * 1024;
    private byte[] _blob = [];
    private string _root = "";
    private IContentStore _store = null!;
    private Cid _stored;

    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "local";

    public static IEnumerable<string> Backends =>
        Environment.GetEnvironmentVariable("DETACH_BENCH_IPFS_API") is { Length: > 0 }
            ? ["local", "kubo", "spool"]
            : ["local"];

    [GlobalSetup]
    public void Setup()
    {
        _blob = new byte[BlobSize];
        new Random(42).NextBytes(_blob);
        _root = Path.Combine(Path.GetTempPath(), "detach-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var local = new LocalContentStore(Path.Combine(_root, "store"));
        _store = Backend switch
        {
            "local" => local,
            "kubo" => new KuboContentStore(CreateClient()),
            "spool" => new SpoolingContentStore(new KuboContentStore(CreateClient()), new LocalContentStore(Path.Combine(_root, "spool")), NodeDownBehavior.Spool),
            _ => throw new InvalidOperationException(Backend),
        };
        _stored = _store.AddAsync(new MemoryStream(_blob), CancellationToken.None).GetAwaiter().GetResult().Cid;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.RemoveAsync(_stored, CancellationToken.None).GetAwaiter().GetResult();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Description = "add 50 MiB (durable)")]
    public async Task<long> Add()
    {
        // A non-seekable source, as attachments arrive from the MIME decoder.
        var stored = await _store.AddAsync(new ForwardOnlyStream(_blob), CancellationToken.None);
        if (_store is LocalContentStore local)
        {
            // Keep every iteration a fresh write (an existing CID skips the rename).
            await local.RemoveAsync(stored.Cid, CancellationToken.None);
        }
        return stored.Size;
    }

    [Benchmark(Description = "read 50 MiB")]
    public async Task<long> Read()
    {
        await using var stream = await _store.OpenReadAsync(_stored, 0, null, CancellationToken.None);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, CancellationToken.None)) > 0)
        {
            total += n;
        }
        return total;
    }

    private static KuboClient CreateClient() =>
        new(new HttpClient(), Options.Create(new KuboOptions
        {
            ApiUrl = new Uri(Environment.GetEnvironmentVariable("DETACH_BENCH_IPFS_API")!),
            MaxRetries = 0,
        }));
}
