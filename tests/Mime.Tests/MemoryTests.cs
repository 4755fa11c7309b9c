using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Detach.Mime.Tests;

[CollectionDefinition(DisableParallelization = true)]
public sealed class MemoryCollection;

/// <summary>Bounded memory: a 100 MiB attachment goes through with a small, constant footprint.</summary>
[Collection(typeof(MemoryCollection))]
public class MemoryTests
{
    private const int AttachmentBytes = 100 * 1024 * 1024;

    [Fact]
    public async Task A_100_MiB_attachment_is_rewritten_in_under_32_MiB_of_managed_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        string dir = Path.Combine(Path.GetTempPath(), "detach-mime-tests");
        Directory.CreateDirectory(dir);
        string input = Path.Combine(dir, $"big-{Guid.NewGuid():N}.eml");
        string output = input + ".out";
        try
        {
            string expectedSha = await WriteMessageAsync(input, AttachmentBytes, ct);
            var sink = new HashingSink();
            var rewriter = new MimeRewriter(new DetachPolicyOptions(), sink);

            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            long baseline = GC.GetTotalMemory(forceFullCollection: true);
            long peakLive = 0, peakHeap = 0;
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                int i = 0;
                while (!stop.IsCancellationRequested)
                {
                    // Most samples are cheap (live + garbage); every tenth forces a collection to see what is live.
                    long heap = GC.GetTotalMemory(false) - baseline;
                    peakHeap = Math.Max(peakHeap, heap);
                    if (++i % 10 == 0)
                    {
                        peakLive = Math.Max(peakLive, GC.GetTotalMemory(true) - baseline);
                    }

                    try { await Task.Delay(5, stop.Token); } catch (OperationCanceledException) { }
                }
            }, ct);

            PreparedMessage result;
            await using (var source = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var target = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                result = await rewriter.PrepareAsync(source, ct);
                await result.WriteToAsync(target, ct);
            }
            await stop.CancelAsync();
            await sampler;

            TestContext.Current.TestOutputHelper?.WriteLine($"peak live managed memory {peakLive / 1024.0 / 1024:F1} MiB, peak heap incl. garbage {peakHeap / 1024.0 / 1024:F1} MiB");
            Assert.Single(result.Detached);
            Assert.Equal(AttachmentBytes, sink.Size);
            Assert.Equal(expectedSha, sink.Sha256);
            Assert.True(peakLive < 32L * 1024 * 1024, $"peak live managed memory {peakLive} bytes");
            Assert.True(peakHeap < 32L * 1024 * 1024, $"peak managed heap {peakHeap} bytes");
            Assert.True(new FileInfo(output).Length < 10_000);
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    /// <summary>Streams a message with one base64 attachment of pseudo-random bytes to disk; returns the attachment's SHA-256.</summary>
    internal static async Task<string> WriteMessageAsync(string path, long attachmentBytes, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await file.WriteAsync(Encoding.ASCII.GetBytes(
            "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big-boundary\"\r\n\r\n" +
            "--big-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe big file.\r\n" +
            "--big-boundary\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"), cancellationToken);
        const int LinesPerChunk = 1000;
        var raw = new byte[57 * LinesPerChunk];
        var encoded = new byte[78 * LinesPerChunk];
        var random = new Random(42);
        long remaining = attachmentBytes;
        while (remaining > 0)
        {
            int n = (int)Math.Min(raw.Length, remaining);
            random.NextBytes(raw.AsSpan(0, n));
            hash.AppendData(raw, 0, n);
            int o = 0;
            for (int i = 0; i < n; i += 57)
            {
                Base64.EncodeToUtf8(raw.AsSpan(i, Math.Min(57, n - i)), encoded.AsSpan(o), out _, out int written);
                o += written;
                encoded[o++] = (byte)'\r';
                encoded[o++] = (byte)'\n';
            }
            await file.WriteAsync(encoded.AsMemory(0, o), cancellationToken);
            remaining -= n;
        }
        await file.WriteAsync("--big-boundary--\r\n"u8.ToArray(), cancellationToken);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private sealed class HashingSink : IAttachmentSink
    {
        public long Size { get; private set; }

        public string? Sha256 { get; private set; }

        public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await decodedContent.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                Size += n;
            }
            Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            return new DetachedAttachment(attachment.FileName, attachment.ContentType, Size, "https://vault.example.org/d/x#y", null);
        }
    }
}
