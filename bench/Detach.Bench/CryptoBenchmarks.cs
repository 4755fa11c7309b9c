using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Detach.Crypto;

namespace Detach.Bench;

/// <summary>
/// End-to-end encryption and decryption of 64 MiB against the two primitives they are built from
/// (HMAC-SHA256 per 64 KiB record, AES-256-CTR keystream), so the overhead of the format is visible.
/// Run: dotnet run -c Release --project bench/Detach.Bench -- --filter '*Crypto*'
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
[SimpleJob(warmupCount: 3, iterationCount: 20)]
public class CryptoBenchmarks
{
    public const int Size = 64 * 1024 * 1024;

    private readonly byte[] _plaintext = new byte[Size];
    private readonly byte[] _work = new byte[Size];
    private readonly byte[] _readBuffer = new byte[256 * 1024];
    private byte[] _ciphertext = [];
    private FileKey _key = null!;
    private AesCtr _ctr = null!;
    private AesCtr _ecbCtr = null!;
    private IncrementalHash _hmac = null!;

    [GlobalSetup]
    public void Setup()
    {
        new Random(1).NextBytes(_plaintext);
        _key = FileKey.Generate();
        _ctr = AesCtr.Create(_key.LinkKey);
        _ecbCtr = new EcbAesCtr(_key.LinkKey);
        _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key.VaultKey);
        _ciphertext = RecordEncryptor.Encrypt(_plaintext, _key, default);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ctr.Dispose();
        _ecbCtr.Dispose();
        _hmac.Dispose();
        _key.Dispose();
    }

    /// <summary>The MAC alone: one HMAC-SHA256 per 64 KiB record, as the format computes it.</summary>
    [Benchmark(Baseline = true)]
    public int HmacSha256PerRecord()
    {
        Span<byte> tag = stackalloc byte[32];
        for (int offset = 0; offset < Size; offset += RecordFormat.RecordSize)
        {
            _hmac.AppendData(_plaintext.AsSpan(offset, RecordFormat.RecordSize));
            _hmac.GetHashAndReset(tag);
        }

        return tag[0];
    }

    /// <summary>The cipher alone: AES-256-CTR keystream XORed in place, in 16 KiB slices as the format runs it.</summary>
    [Benchmark]
    public int AesCtrKeystream()
    {
        for (int offset = 0; offset < Size; offset += 16 * 1024)
        {
            _ctr.Transform((uint)(offset / 16), _work.AsSpan(offset, 16 * 1024));
        }

        return _work[0];
    }

    /// <summary>The portable fallback: counter blocks through AES-ECB, then a vectorised XOR.</summary>
    [Benchmark]
    public int AesCtrKeystreamViaEcb()
    {
        _ecbCtr.Transform(0, _work);
        return _work[0];
    }

    /// <summary>Pull-style encryption, read into a 256 KiB buffer.</summary>
    [Benchmark]
    public long Encrypt()
    {
        using var encrypting = new RecordEncryptingStream(new MemoryStream(_plaintext, writable: false), _key);
        long total = 0;
        int n;
        while ((n = encrypting.Read(_readBuffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    /// <summary>Push-style encryption into a discarding stream.</summary>
    [Benchmark]
    public Task<long> EncryptAsync() =>
        RecordEncryptor.EncryptAsync(new MemoryStream(_plaintext, writable: false), Stream.Null, _key, CancellationToken.None);

    /// <summary>Sequential decryption, read into a 256 KiB buffer.</summary>
    [Benchmark]
    public long Decrypt()
    {
        using var decrypting = new RecordDecryptStream(new MemoryStream(_ciphertext, writable: false), _key);
        long total = 0;
        int n;
        while ((n = decrypting.Read(_readBuffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    /// <summary>A throughput column: 64 MiB divided by the mean time.</summary>
    private sealed class ThroughputConfig : ManualConfig
    {
        // The machine is shared: the best iteration is the closest to the uncontended speed.
        public ThroughputConfig() => AddColumn(StatisticColumn.Min, new GigabytesPerSecondColumn(best: false), new GigabytesPerSecondColumn(best: true));
    }

    private sealed class GigabytesPerSecondColumn(bool best) : IColumn
    {
        public string Id => nameof(GigabytesPerSecondColumn) + (best ? "Best" : "Mean");

        public string ColumnName => best ? "GB/s (best)" : "GB/s (mean)";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => best
            ? "64 MiB / fastest iteration, in 10^9 bytes per second"
            : "64 MiB / mean iteration time, in 10^9 bytes per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } statistics)
            {
                return "-";
            }

            double seconds = (best ? statistics.Min : statistics.Mean) / 1e9;
            return (Size / seconds / 1e9).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);
        }

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
