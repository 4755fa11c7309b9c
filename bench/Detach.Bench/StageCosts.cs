using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Mime;
using Detach.Smtp;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Bench;

/// <summary>
/// CPU time per MiB detached, stage by stage, for the message the Postfix driver sends (one base64 attachment of
/// <c>--mib</c> MiB, 76-character CRLF lines, as it arrives after DATA). Each stage runs alone over its own input,
/// as often as it takes to fill about a second of CPU, and the process's user + system time is read around it
/// (<see cref="Process.TotalProcessorTime"/>): on a shared machine wall-clock swings with the load, CPU time much
/// less. The last row is the whole detacher (spool, parse, decode, encrypt, CID, store, index, rewrite, commit),
/// the same calls the SMTP front makes minus the sockets.
/// Run: dotnet run -c Release --project bench/Detach.Bench -- --stages [--mib 1] [--rounds 5]
/// </summary>
internal static class StageCosts
{
    public static async Task<int> RunAsync(string[] args)
    {
        int mib = Option(args, "--mib", 1);
        int rounds = Option(args, "--rounds", 5);
        int warmupRuns = Option(args, "--warmup", 300);
        var root = Path.Combine(Path.GetTempPath(), "detach-stages-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var bench = new Stages(root, mib);
            await bench.InitializeAsync();
            Console.WriteLine($"message {bench.Wire.Length:N0} bytes on the wire, attachment {mib} MiB; CPU ms per MiB detached (median of {rounds} rounds, min-max)");
            var only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
            foreach (var (name, stage) in bench.All().Where(s => only is null || s.Name.StartsWith(only, StringComparison.Ordinal)))
            {
                var perMiB = new List<double>();
                // Warm-up: tiered JIT keeps recompiling (instrumented, then optimised) for a few thousand calls.
                for (int warm = 0; warm < warmupRuns; warm++)
                {
                    await stage();
                }

                for (int round = 0; round < rounds; round++)
                {
                    perMiB.Add(await MeasureAsync(stage) / mib);
                }

                perMiB.Sort();
                Console.WriteLine($"{name,-46} {perMiB[perMiB.Count / 2],7:F3}  ({perMiB[0]:F3}-{perMiB[^1]:F3})");
            }

            await bench.DisposeAsync();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        return 0;
    }

    /// <summary>CPU milliseconds per run of <paramref name="stage"/>, over enough runs to fill about a second.</summary>
    private static async Task<double> MeasureAsync(Func<Task> stage)
    {
        var process = Process.GetCurrentProcess();
        int runs = 0;
        process.Refresh();
        var start = process.TotalProcessorTime;
        var jit = System.Runtime.JitInfo.GetCompilationTime();
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 1000 || runs < 10)
        {
            await stage();
            runs++;
        }

        process.Refresh();
        var jitMs = (System.Runtime.JitInfo.GetCompilationTime() - jit).TotalMilliseconds;
        if (jitMs > 1) Console.Error.WriteLine($"  (JIT {jitMs:F0} ms during {runs} runs, {(process.TotalProcessorTime - start).TotalMilliseconds:F0} ms CPU)");
        return (process.TotalProcessorTime - start).TotalMilliseconds / runs;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    private sealed class Stages(string root, int mib) : IAsyncDisposable
    {
        private readonly byte[] attachment = RandomNumberGenerator.GetBytes(mib * 1024 * 1024);
        private byte[] message = [];
        private byte[] ciphertext = [];
        private readonly byte[] sink = new byte[256 * 1024];
        private VaultComponents components = null!;
        private DetachSettings settings = null!;
        private DetachMetrics metrics = null!;
        private MessageDetacher detacher = null!;
        private readonly SpillBudget budget = new();
        private int sequence;

        // The spool the parse and decode stages read: filled once, as the receive stage leaves it.
        private SpillStream filled = null!;
        private MimeStructure structure = null!;

        /// <summary>The message as DATA carries it: dot-stuffed (nothing to stuff here), CRLF.CRLF at the end.</summary>
        public byte[] Wire { get; private set; } = [];

        public async Task InitializeAsync()
        {
            var text = new StringBuilder()
                .Append("From: bench@client.test\r\nTo: alice@example.test\r\nSubject: attachment bench mail\r\nMessage-ID: <large@bench.test>\r\nMIME-Version: 1.0\r\n")
                .Append("Content-Type: multipart/mixed; boundary=\"b-bench\"\r\n\r\n--b-bench\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n\r\n")
                .Append("--b-bench\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n")
                .Append(Convert.ToBase64String(attachment, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal))
                .Append("\r\n--b-bench--\r\n");
            message = Encoding.ASCII.GetBytes(text.ToString());
            Wire = [.. message, .. ".\r\n"u8];

            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["DataPath"] = root,
                ["PublicUrl"] = "https://files.example.com",
            }).Build();
            settings = DetachSettings.Load(configuration);
            components = await VaultComponents.OpenAsync(settings, CancellationToken.None);
            metrics = new DetachMetrics();
            detacher = new MessageDetacher(components.Vault, settings, metrics, NullLogger<MessageDetacher>.Instance);

            using var key = FileKey.Generate();
            await using var encrypting = new RecordEncryptingStream(new MemoryStream(attachment), key);
            var buffer = new MemoryStream();
            await encrypting.CopyToAsync(buffer);
            ciphertext = buffer.ToArray();

            filled = NewSpool();
            await filled.WriteAsync(message);
            await ParseAsync();
        }

        public IEnumerable<(string Name, Func<Task> Stage)> All() =>
        [
            ("receive: DATA (dot reader) into the spool", () => ReceiveAsync()),
            ("parse: MIME structure scan of the spool", ParseAsync),
            ("decode: base64 out of the spool", DecodeAsync),
            ("encrypt: AES-256-CTR + HMAC-SHA-256 per record", EncryptAsync),
            ("CID: SHA-256 of each 256 KiB chunk", CidAsync),
            ("store: local add (CID, write, fsync, rename)", StoreAsync),
            ("store, through the page cache (push writer)", StoreBufferedAsync),
            ("index: add + mark stored (SQLite, FULL sync)", IndexAsync),
            ("whole: spool, detach, rewrite, commit", () => WholeAsync(SpillStream.DefaultThreshold)),
            ("whole, spool in memory", () => WholeAsync(8 * 1024 * 1024)),
        ];

        private SpillStream NewSpool() => new(root, SpillStream.DefaultThreshold, budget);

        private async Task<SpillStream> ReceiveAsync()
        {
            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 64 * 1024));
            await pipe.Writer.WriteAsync(Wire);
            await pipe.Writer.CompleteAsync();
            var spool = NewSpool();
            using (var data = new DotReader(pipe.Reader, long.MaxValue, 0, new DataDeadline(TimeSpan.FromMinutes(1)), CancellationToken.None))
            {
                await data.CopyToAsync(spool);
            }

            await pipe.Reader.CompleteAsync();
            await spool.DisposeAsync();
            return spool;
        }

        private async Task ParseAsync()
        {
            filled.Position = 0;
            structure = await MimeStructure.ParseAsync(filled);
        }

        private async Task DecodeAsync()
        {
            var part = structure.Root.Children[1];
            await using var decoded = structure.OpenDecoded(part.BodyStart, part.BodyLength, part.TransferEncoding);
            while (await decoded.ReadAsync(sink) > 0)
            {
            }
        }

        private async Task EncryptAsync()
        {
            using var key = FileKey.Generate();
            await using var encrypting = new RecordEncryptingStream(new MemoryStream(attachment), key);
            while (await encrypting.ReadAsync(sink) > 0)
            {
            }
        }

        private Task CidAsync()
        {
            Span<byte> digest = stackalloc byte[32];
            for (int at = 0; at < ciphertext.Length; at += 256 * 1024)
            {
                SHA256.HashData(ciphertext.AsSpan(at, Math.Min(256 * 1024, ciphertext.Length - at)), digest);
            }

            return Task.CompletedTask;
        }

        private async Task StoreAsync()
        {
            var stored = await components.Local.AddAsync(new MemoryStream(ciphertext), CancellationToken.None);
            await components.Local.RemoveAsync(stored.Cid, CancellationToken.None);
        }

        private async Task StoreBufferedAsync()
        {
            Cid cid;
            await using (var writer = components.Local.BeginWrite())
            {
                for (int at = 0; at < ciphertext.Length; at += 256 * 1024)
                {
                    await writer.WriteAsync(ciphertext.AsMemory(at, Math.Min(256 * 1024, ciphertext.Length - at)), CancellationToken.None);
                }

                cid = (await writer.CommitAsync(CancellationToken.None)).Cid;
            }

            await components.Local.RemoveAsync(cid, CancellationToken.None);
        }

        private async Task IndexAsync()
        {
            var now = DateTimeOffset.UtcNow;
            var cid = $"bafkreistage{Interlocked.Increment(ref sequence)}";
            await components.Index.AddAsync(new AttachmentRecord
            {
                Cid = cid,
                VaultKey = new byte[32],
                PlaintextSize = attachment.Length,
                CiphertextSize = ciphertext.Length,
                ContentType = "application/octet-stream",
                FileName = "data.bin",
                CreatedAt = now,
                ExpiresAt = now.AddDays(30),
                MessageId = "<large@bench.test>",
                SenderDomain = "client.test",
                RecipientCount = 1,
                StoreState = StoreState.Spooled,
            });
            await components.Index.MarkAsync([cid], StoreState.Stored);
        }

        private async Task WholeAsync(int threshold)
        {
            await using var spool = new SpillStream(root, threshold, budget);
            await spool.WriteAsync(message);
            await using var output = new SpillStream(root, threshold, budget);
            await using var detached = await detacher.PrepareAsync(spool, new MessageEnvelope("bench@client.test", 1), CancellationToken.None);
            await detached.WriteToAsync(output, CancellationToken.None);
            await detached.CommitAsync(CancellationToken.None);
        }

        public async ValueTask DisposeAsync()
        {
            await filled.DisposeAsync();
            metrics.Dispose();
            await components.DisposeAsync();
        }
    }
}
