using System.Buffers.Text;
using System.Text;
using BenchmarkDotNet.Attributes;
using Detach.Mime;

namespace Detach.Bench;

/// <summary>
/// Parse + base64-decode + rewrite of a message with one 50 MiB attachment, from a spool file to a null output,
/// with a sink that reads and discards. Throughput = spool bytes / mean time.
/// Run: dotnet run -c Release --project bench/Detach.Bench -- --filter '*Mime*'
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MaxColumn]
public class MimeBenchmarks
{
    private const long AttachmentBytes = 50L * 1024 * 1024;
    private string _path = "";
    private MimeRewriter _rewriter = null!;
    private MimeStructure? _unused;

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"detach-mime-bench-{Environment.ProcessId}.eml");
        WriteMessage(_path, AttachmentBytes);
        _rewriter = new MimeRewriter(new DetachPolicyOptions(), new DiscardingSink());
        Console.WriteLine($"// spool file {new FileInfo(_path).Length} bytes");
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark(Description = "rewrite 50 MiB base64 attachment (parse+decode+rewrite)")]
    public async Task<int> Rewrite()
    {
        await using var source = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var result = await _rewriter.PrepareAsync(source, CancellationToken.None);
        await result.WriteToAsync(Stream.Null, CancellationToken.None);
        return result.Detached.Count;
    }

    [Benchmark(Description = "parse only (structure scan)")]
    public async Task<int> Parse()
    {
        await using var source = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        _unused = await MimeStructure.ParseAsync(source);
        return _unused.Root.Children.Count;
    }

    [Benchmark(Description = "decode only (base64 body through the decoding stream)")]
    public async Task<long> Decode()
    {
        await using var source = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var structure = await MimeStructure.ParseAsync(source);
        await using var body = structure.OpenBody(structure.Root.Children[1]);
        return await DiscardingSink.DrainAsync(body, CancellationToken.None);
    }

    private sealed class DiscardingSink : IAttachmentSink
    {
        public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
        {
            long size = await DrainAsync(decodedContent, cancellationToken);
            return new DetachedAttachment(attachment.FileName, attachment.ContentType, size, "https://vault.example.org/d/bench#key", null);
        }

        public static async Task<long> DrainAsync(Stream stream, CancellationToken cancellationToken)
        {
            var buffer = new byte[128 * 1024];
            long size = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                size += n;
            }

            return size;
        }
    }

    private static void WriteMessage(string path, long attachmentBytes)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        file.Write(Encoding.ASCII.GetBytes(
            "From: a@example.org\r\nTo: b@example.org\r\nSubject: bench\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bench-boundary\"\r\n\r\n" +
            "--bench-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe big file.\r\n" +
            "--bench-boundary\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
        var raw = new byte[57 * 1000];
        var encoded = new byte[78 * 1000];
        var random = new Random(42);
        for (long remaining = attachmentBytes; remaining > 0;)
        {
            int n = (int)Math.Min(raw.Length, remaining);
            random.NextBytes(raw.AsSpan(0, n));
            int o = 0;
            for (int i = 0; i < n; i += 57)
            {
                Base64.EncodeToUtf8(raw.AsSpan(i, Math.Min(57, n - i)), encoded.AsSpan(o), out _, out int written);
                o += written;
                encoded[o++] = (byte)'\r';
                encoded[o++] = (byte)'\n';
            }
            file.Write(encoded, 0, o);
            remaining -= n;
        }
        file.Write("--bench-boundary--\r\n"u8);
    }
}
