using BenchmarkDotNet.Attributes;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Detach.Bench;

/// <summary>
/// What storing one attachment costs the SMTP front: a fresh key, AES-256-CTR + HMAC per record, the durable
/// add (local store: UnixFS CID + fsync; or the IPFS node with pin), and the index row, for 50 MiB.
/// With DETACH_BENCH_IPFS_API=http://host:port the node is measured too.
/// Run: dotnet run -c Release --project bench/Detach.Bench -- --filter '*VaultBenchmarks*'
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class VaultBenchmarks
{
    private const int AttachmentSize = 50 * 1024 * 1024;
    private byte[] _attachment = [];
    private string _root = "";
    private AttachmentVault _vault = null!;
    private IAttachmentIndex _index = null!;
    private HttpClient? _http;
    private int _sequence;

    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "local";

    public static IEnumerable<string> Backends =>
        Environment.GetEnvironmentVariable("DETACH_BENCH_IPFS_API") is { Length: > 0 } ? ["local", "kubo"] : ["local"];

    [GlobalSetup]
    public void Setup()
    {
        _attachment = new byte[AttachmentSize];
        new Random(7).NextBytes(_attachment);
        _root = Path.Combine(Path.GetTempPath(), "detach-bench-vault-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_root);
        IContentStore store = new LocalContentStore(Path.Combine(_root, "store"));
        if (Backend == "kubo")
        {
            _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var options = Options.Create(new KuboOptions { ApiUrl = new Uri(Environment.GetEnvironmentVariable("DETACH_BENCH_IPFS_API")!) });
            store = new KuboContentStore(new KuboClient(_http, options));
        }

        _index = SqliteAttachmentIndex.ForDataPath(_root);
        _index.MigrateAsync().GetAwaiter().GetResult();
        _vault = new AttachmentVault(store, _index, new AttachmentVaultOptions { PublicUrl = "https://files.example.com" },
            TimeProvider.System, NullLogger<AttachmentVault>.Instance);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _index.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _http?.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Description = "encrypt + store + index 50 MiB")]
    public async Task<long> EncryptAndStore()
    {
        var message = _vault.BeginMessage(new MessageContext($"<bench-{_sequence++}@example.com>", "example.com", 10));
        var stored = await message.StoreAsync(new AttachmentFile("bench.bin", "application/octet-stream"),
            new ForwardOnlyStream(_attachment), CancellationToken.None);
        await message.CommitAsync(CancellationToken.None);
        return stored.Record.PlaintextSize;
    }
}
