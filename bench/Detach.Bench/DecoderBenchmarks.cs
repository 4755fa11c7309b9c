using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Detach.Mime;

namespace Detach.Bench;

/// <summary>
/// Our transfer decoders against MimeKit's, side by side on the same 8 MiB in memory, fed in the 64 KiB chunks the
/// decoding stream uses. Read the ratio per category (a loaded machine moves both alike): MimeKit's decoders are
/// adopted only if at least as fast. Run: dotnet run -c Release --project bench/Detach.Bench -- --filter '*DecoderBenchmarks*'
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class DecoderBenchmarks
{
    private const int Size = 8 * 1024 * 1024;
    private const int Chunk = 64 * 1024;
    private byte[] _base64 = [];
    private byte[] _quotedPrintable = [];
    private readonly byte[] _output = new byte[Chunk * 2];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var data = new byte[Size / 4 * 3];
        random.NextBytes(data);
        _base64 = Encoding.ASCII.GetBytes(Convert.ToBase64String(data, Base64FormattingOptions.InsertLineBreaks));

        // Prose with accented letters (=C3=A9), a tab, long lines folded with soft breaks: what mail bodies look like.
        var qp = new StringBuilder(Size + 1024);
        const string line = "Bonjour, voici le r=C3=A9sum=C3=A9 de la r=C3=A9union\tde mardi: tout va bien, merci beaucoup =\r\n";
        while (qp.Length < Size)
        {
            qp.Append(line).Append("Ligne courte.\r\n");
        }

        _quotedPrintable = Encoding.ASCII.GetBytes(qp.ToString());
    }

    [Benchmark(Baseline = true, Description = "ours")]
    [BenchmarkCategory("base64")]
    public long Base64Ours() => Ours(new Base64Decoder(), _base64);

    [Benchmark(Description = "MimeKit")]
    [BenchmarkCategory("base64")]
    public long Base64MimeKit() => Theirs(new MimeKit.Encodings.Base64Decoder(), _base64);

    [Benchmark(Baseline = true, Description = "ours")]
    [BenchmarkCategory("quoted-printable")]
    public long QuotedPrintableOurs() => Ours(new QuotedPrintableDecoder(), _quotedPrintable);

    [Benchmark(Description = "MimeKit")]
    [BenchmarkCategory("quoted-printable")]
    public long QuotedPrintableMimeKit() => Theirs(new MimeKit.Encodings.QuotedPrintableDecoder(), _quotedPrintable);

    private long Ours(IContentDecoder decoder, byte[] input)
    {
        long total = 0;
        for (int at = 0; at < input.Length; at += Chunk)
        {
            total += decoder.Decode(input.AsSpan(at, Math.Min(Chunk, input.Length - at)), _output);
        }
        return total + decoder.Flush(_output);
    }

    private long Theirs(MimeKit.Encodings.IMimeDecoder decoder, byte[] input)
    {
        long total = 0;
        for (int at = 0; at < input.Length; at += Chunk)
        {
            total += decoder.Decode(input, at, Math.Min(Chunk, input.Length - at), _output);
        }
        return total;
    }
}
