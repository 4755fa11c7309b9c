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
            var only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
            bool Selected(string name) => only is null || name.StartsWith(only, StringComparison.Ordinal);
            Console.WriteLine($"message {bench.Wire.Length:N0} bytes on the wire, attachment {mib} MiB; CPU ms per MiB detached (median of {rounds} rounds, min-max)");
            foreach (var (name, stage) in bench.All().Where(s => Selected(s.Name)))
            {
                var (cpu, _, wall) = await RunStageAsync(stage, bench.RemoveStoredAsync, rounds, warmupRuns);
                Console.WriteLine($"{name,-46} {cpu[cpu.Length / 2] / mib,7:F3}  ({cpu[0] / mib:F3}-{cpu[^1] / mib:F3})  wall {wall / mib:F3}");
            }

            Console.WriteLine($"plain message {bench.PlainWire.Length:N0} bytes on the wire; CPU µs and KiB allocated per message (median of {rounds} rounds)");
            foreach (var (name, stage) in bench.Plain().Where(s => Selected(s.Name)))
            {
                var (cpu, allocated, _) = await RunStageAsync(stage, bench.RemoveStoredAsync, rounds, warmupRuns * 10);
                Console.WriteLine($"{name,-46} {cpu[cpu.Length / 2] * 1000,7:F1} µs  ({cpu[0] * 1000:F1}-{cpu[^1] * 1000:F1})  {allocated / 1024,6:F1} KiB");
            }

            await bench.DisposeAsync();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        return 0;
    }

    /// <summary>Warms <paramref name="stage"/> up, then measures it <paramref name="rounds"/> times: CPU ms per run (sorted), bytes allocated per run (median).</summary>
    /// <remarks><paramref name="cleanUp"/> runs between rounds, outside the measurement: the machine's disk is shared.</remarks>
    private static async Task<(double[] Cpu, double Allocated, double Wall)> RunStageAsync(Func<Task> stage, Func<Task> cleanUp, int rounds, int warmupRuns)
    {
        // Warm-up: tiered JIT keeps recompiling (instrumented, then optimised) for a few thousand calls.
        for (int warm = 0; warm < warmupRuns; warm++)
        {
            await stage();
        }

        await cleanUp();

        var cpu = new double[rounds];
        var allocated = new double[rounds];
        var wall = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            (cpu[round], allocated[round], wall[round]) = await MeasureAsync(stage);
            await cleanUp();
        }

        Array.Sort(cpu);
        Array.Sort(allocated);
        Array.Sort(wall);
        return (cpu, allocated[rounds / 2], wall[rounds / 2]);
    }

    /// <summary>CPU milliseconds, bytes allocated (all threads) and wall-clock milliseconds per run of <paramref name="stage"/>, over about a second.</summary>
    private static async Task<(double Cpu, double Allocated, double Wall)> MeasureAsync(Func<Task> stage)
    {
        var process = Process.GetCurrentProcess();
        int runs = 0;
        process.Refresh();
        var start = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 1000 || runs < 10)
        {
            await stage();
            runs++;
        }

        process.Refresh();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return ((process.TotalProcessorTime - start).TotalMilliseconds / runs, (double)allocated / runs, clock.Elapsed.TotalMilliseconds / runs);
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    private sealed class Stages(string root, int mib) : IAsyncDisposable
    {
        private readonly byte[] _attachment = RandomNumberGenerator.GetBytes(mib * 1024 * 1024);
        private byte[] _message = [];
        private byte[] _ciphertext = [];
        private readonly byte[] _sink = new byte[256 * 1024];
        private VaultComponents _components = null!;
        private DetachSettings _settings = null!;
        private DetachMetrics _metrics = null!;
        private MessageDetacher _detacher = null!;
        private SessionCosts _sessions = null!;
        private readonly SpillBudget _budget = new();
        private int _sequence;

        // The spool the parse and decode stages read: filled once, as the receive stage leaves it.
        private SpillStream _filled = null!;
        private MimeStructure _structure = null!;

        /// <summary>A 5 KB text mail without attachment (the plain traffic of the Postfix driver), as DATA carries it.</summary>
        public byte[] PlainWire { get; private set; } = [];

        private byte[] _plain = [];
        private SpillStream _plainFilled = null!;
        private readonly Pipe _relay = new(new PipeOptions(pauseWriterThreshold: 0));

        /// <summary>The message as DATA carries it: dot-stuffed (nothing to stuff here), CRLF.CRLF at the end.</summary>
        public byte[] Wire { get; private set; } = [];

        public async Task InitializeAsync()
        {
            var text = new StringBuilder()
                .Append("From: bench@client.test\r\nTo: alice@example.test\r\nSubject: attachment bench mail\r\nMessage-ID: <large@bench.test>\r\nMIME-Version: 1.0\r\n")
                .Append("Content-Type: multipart/mixed; boundary=\"b-bench\"\r\n\r\n--b-bench\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n\r\n")
                .Append("--b-bench\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n")
                .Append(Convert.ToBase64String(_attachment, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal))
                .Append("\r\n--b-bench--\r\n");
            _message = Encoding.ASCII.GetBytes(text.ToString());
            Wire = [.. _message, .. ".\r\n"u8];

            var sinkServer = SessionCosts.StartSink();
            var sinkEndPoint = (System.Net.IPEndPoint)sinkServer.LocalEndPoints[0];
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["DataPath"] = root,
                ["PublicUrl"] = "https://files.example.com",
                ["Smtp:Listen"] = "127.0.0.1:0",
                ["Smtp:NextHop"] = $"smtp://127.0.0.1:{sinkEndPoint.Port}",
            }).Build();
            _settings = DetachSettings.Load(configuration);
            _components = await VaultComponents.OpenAsync(_settings, CancellationToken.None);
            _metrics = new DetachMetrics();
            _detacher = new MessageDetacher(_components.Vault, _settings, _metrics, NullLogger<MessageDetacher>.Instance);
            _sessions = new SessionCosts(_settings, _detacher, _metrics, sinkEndPoint, sinkServer);

            using var key = FileKey.Generate();
            await using var encrypting = new RecordEncryptingStream(new MemoryStream(_attachment), key);
            var buffer = new MemoryStream();
            await encrypting.CopyToAsync(buffer);
            _ciphertext = buffer.ToArray();

            var plainText = new StringBuilder()
                .Append("From: bench@client.test\r\nTo: alice@example.test\r\nSubject: plain bench mail\r\nMessage-ID: <plain@bench.test>\r\nMIME-Version: 1.0\r\n")
                .Append("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
            while (plainText.Length < 5000)
            {
                plainText.Append("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n");
            }

            _plain = Encoding.ASCII.GetBytes(plainText.ToString());
            PlainWire = [.. _plain, .. ".\r\n"u8];
            _plainFilled = NewSpool();
            await _plainFilled.WriteAsync(_plain);

            _filled = NewSpool();
            await _filled.WriteAsync(_message);
            await ParseAsync();
        }

        public IEnumerable<(string Name, Func<Task> Stage)> All() =>
        [
            ("receive: DATA (dot reader) into the spool", async () => await (await ReceiveAsync(Wire)).DisposeAsync()),
            ("parse: MIME structure scan of the spool", ParseAsync),
            ("decode: base64 out of the spool", DecodeAsync),
            ("encrypt: AES-256-CTR + HMAC-SHA-256 per record", EncryptAsync),
            ("decode + encrypt: the records read from the decoded spool", DecodeEncryptAsync),
            ("CID: SHA-256 of each 256 KiB chunk", CidAsync),
            ("store: local add (CID, write, fsync, rename)", StoreAsync),
            ("store: push writer (the Kubo spool's tee)", StoreBufferedAsync),
            ("index: add + mark stored (SQLite, FULL sync)", IndexAsync),
            ("whole: spool, detach, rewrite, commit", () => WholeAsync(SpillStream.DefaultThreshold)),
            ("whole, spool in memory", () => WholeAsync(8 * 1024 * 1024)),
            ("session: client -> sink (no detach)", () => _sessions.SendAsync(_sessions.SinkEndPoint, Wire)),
            ("session: client -> detach -> sink", () => _sessions.SendAsync(_sessions.ProxyEndPoint, Wire)),
        ];

        /// <summary>Removes what the whole-message stages stored (a fresh key each time: a new object per run).</summary>
        public async Task RemoveStoredAsync()
        {
            await foreach (var cid in _components.Local.ListAsync(CancellationToken.None))
            {
                await _components.Local.RemoveAsync(cid, CancellationToken.None);
            }
        }

        /// <summary>The plain mail through the proxy's steps: µs per message.</summary>
        public IEnumerable<(string Name, Func<Task> Stage)> Plain() =>
        [
            ("plain receive: DATA into the spool", async () => await (await ReceiveAsync(PlainWire)).DisposeAsync()),
            ("plain prepare: parse, nothing to detach", PreparePlainAsync),
            ("plain relay: dot-stuffed to the next hop", () => RelayAsync(_plainFilled)),
            ("plain whole: receive, prepare, relay", PlainWholeAsync),
            ("plain session: client -> sink (no detach)", () => _sessions.SendAsync(_sessions.SinkEndPoint, PlainWire)),
            ("plain session: client -> detach -> sink", () => _sessions.SendAsync(_sessions.ProxyEndPoint, PlainWire)),
        ];

        private async Task PreparePlainAsync()
        {
            await using var detached = await _detacher.PrepareAsync(_plainFilled, new MessageEnvelope("bench@client.test", 1), CancellationToken.None);
            await detached.CommitAsync(CancellationToken.None);
        }

        /// <summary>What RelayNextHop does with the body: dot-stuffs it into the connection's pipe (here drained at once).</summary>
        private async Task RelayAsync(Stream spool)
        {
            spool.Position = 0;
            var writer = new DotWriter(_relay.Writer);
            await spool.CopyToAsync(writer);
            await writer.CompleteAsync(CancellationToken.None);
            var read = await _relay.Reader.ReadAsync();
            _relay.Reader.AdvanceTo(read.Buffer.End);
        }

        private async Task PlainWholeAsync()
        {
            await using var spool = await ReceiveAsync(PlainWire);
            await using (var detached = await _detacher.PrepareAsync(spool, new MessageEnvelope("bench@client.test", 1), CancellationToken.None))
            {
                await RelayAsync(spool);
                await detached.CommitAsync(CancellationToken.None);
            }
        }

        private SpillStream NewSpool() => new(root, SpillStream.DefaultThreshold, _budget);

        /// <summary>DATA as the session reads it: the dot reader over the connection's pipe, copied into a spool (returned open).</summary>
        private async Task<SpillStream> ReceiveAsync(byte[] wire)
        {
            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 64 * 1024));
            await pipe.Writer.WriteAsync(wire);
            await pipe.Writer.CompleteAsync();
            var spool = NewSpool();
            using (var data = new DotReader(pipe.Reader, long.MaxValue, 0, new DataDeadline(TimeSpan.FromMinutes(1)), CancellationToken.None))
            {
                await data.CopyToAsync(spool);
            }

            await pipe.Reader.CompleteAsync();
            return spool;
        }

        private async Task ParseAsync()
        {
            _filled.Position = 0;
            _structure = await MimeStructure.ParseAsync(_filled);
        }

        private async Task DecodeAsync()
        {
            var part = _structure.Root.Children[1];
            await using var decoded = _structure.OpenDecoded(part.BodyStart, part.BodyLength, part.TransferEncoding);
            while (await decoded.ReadAsync(_sink) > 0)
            {
            }
        }

        /// <summary>As the vault reads an attachment: the encryptor fills each record from the decoding stream.</summary>
        private async Task DecodeEncryptAsync()
        {
            var part = _structure.Root.Children[1];
            using var key = FileKey.Generate();
            await using var encrypting = new RecordEncryptingStream(_structure.OpenDecoded(part.BodyStart, part.BodyLength, part.TransferEncoding), key);
            while (await encrypting.ReadAsync(_sink) > 0)
            {
            }
        }

        private async Task EncryptAsync()
        {
            using var key = FileKey.Generate();
            await using var encrypting = new RecordEncryptingStream(new MemoryStream(_attachment), key);
            while (await encrypting.ReadAsync(_sink) > 0)
            {
            }
        }

        private Task CidAsync()
        {
            Span<byte> digest = stackalloc byte[32];
            for (int at = 0; at < _ciphertext.Length; at += 256 * 1024)
            {
                SHA256.HashData(_ciphertext.AsSpan(at, Math.Min(256 * 1024, _ciphertext.Length - at)), digest);
            }

            return Task.CompletedTask;
        }

        private async Task StoreAsync()
        {
            var stored = await _components.Local.AddAsync(new MemoryStream(_ciphertext), CancellationToken.None);
            await _components.Local.RemoveAsync(stored.Cid, CancellationToken.None);
        }

        private async Task StoreBufferedAsync()
        {
            Cid cid;
            await using (var writer = _components.Local.BeginWrite())
            {
                for (int at = 0; at < _ciphertext.Length; at += 256 * 1024)
                {
                    await writer.WriteAsync(_ciphertext.AsMemory(at, Math.Min(256 * 1024, _ciphertext.Length - at)), CancellationToken.None);
                }

                cid = (await writer.CommitAsync(CancellationToken.None)).Cid;
            }

            await _components.Local.RemoveAsync(cid, CancellationToken.None);
        }

        private async Task IndexAsync()
        {
            var now = DateTimeOffset.UtcNow;
            var cid = $"bafkreistage{Interlocked.Increment(ref _sequence)}";
            await _components.Index.AddAsync(new AttachmentRecord
            {
                Cid = cid,
                VaultKey = new byte[32],
                PlaintextSize = _attachment.Length,
                CiphertextSize = _ciphertext.Length,
                ContentType = "application/octet-stream",
                FileName = "data.bin",
                CreatedAt = now,
                ExpiresAt = now.AddDays(30),
                MessageId = "<large@bench.test>",
                SenderDomain = "client.test",
                RecipientCount = 1,
                StoreState = StoreState.Spooled,
            });
            await _components.Index.MarkAsync([cid], StoreState.Stored);
        }

        private async Task WholeAsync(int threshold)
        {
            await using var spool = new SpillStream(root, threshold, _budget);
            await spool.WriteAsync(_message);
            await using var output = new SpillStream(root, threshold, _budget);
            await using var detached = await _detacher.PrepareAsync(spool, new MessageEnvelope("bench@client.test", 1), CancellationToken.None);
            await detached.WriteToAsync(output, CancellationToken.None);
            await detached.CommitAsync(CancellationToken.None);
        }

        public async ValueTask DisposeAsync()
        {
            await _filled.DisposeAsync();
            await _plainFilled.DisposeAsync();
            await _sessions.DisposeAsync();
            _metrics.Dispose();
            await _components.DisposeAsync();
        }
    }
}
