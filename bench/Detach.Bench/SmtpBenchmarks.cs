using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BenchmarkDotNet.Attributes;
using Detach.Smtp;

namespace Detach.Bench;

/// <summary>Dot-unstuffing and stuffing over in-memory pipes, and reply parsing: the per-byte costs of the SMTP path.</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 6)]
public class SmtpCodecBenchmarks
{
    private byte[] _wire = [];
    private byte[] _message = [];
    private readonly byte[] _ehlo = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"u8.ToArray();

    [GlobalSetup]
    public async Task Setup()
    {
        // 8 MiB of base64-like 76-character lines, one in fifty starting with a dot.
        var sb = new StringBuilder();
        var random = new Random(1);
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        while (sb.Length < 8 * 1024 * 1024)
        {
            for (int i = 0; i < 76; i++)
            {
                sb.Append(Alphabet[random.Next(Alphabet.Length)]);
            }

            if (random.Next(50) == 0)
            {
                sb[^76] = '.';
            }

            sb.Append("\r\n");
        }

        _message = Encoding.ASCII.GetBytes(sb.ToString());
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new DotWriter(pipe.Writer);
        writer.Append(_message);
        await writer.CompleteAsync(CancellationToken.None);
        pipe.Writer.Complete();
        pipe.Reader.TryRead(out ReadResult result);
        _wire = result.Buffer.ToArray();
    }

    [Benchmark(Description = "DotReader unstuff 8 MiB")]
    public async Task<long> Unstuff()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await pipe.Writer.WriteAsync(_wire);
        await pipe.Writer.CompleteAsync();
        using var reader = new DotReader(pipe.Reader, long.MaxValue, 1000, new DataDeadline(TimeSpan.FromMinutes(1)), CancellationToken.None);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(81920);
        long total = 0;
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
        {
            total += n;
        }

        ArrayPool<byte>.Shared.Return(buffer);
        return total;
    }

    [Benchmark(Description = "DotWriter stuff 8 MiB")]
    public async Task<long> Stuff()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new DotWriter(pipe.Writer);
        for (int offset = 0; offset < _message.Length; offset += 81920)
        {
            writer.Append(_message.AsSpan(offset, Math.Min(81920, _message.Length - offset)));
        }

        await writer.CompleteAsync(CancellationToken.None);
        pipe.Reader.TryRead(out ReadResult result);
        long length = result.Buffer.Length;
        pipe.Reader.AdvanceTo(result.Buffer.End);
        return length;
    }

    [Benchmark(Description = "Parse 9-line EHLO reply")]
    public int ParseEhlo()
    {
        var sequence = new ReadOnlySequence<byte>(_ehlo);
        SmtpReplyParser.Default.TryParse(ref sequence, out SmtpReply? reply);
        return reply!.Lines.Count;
    }
}

/// <summary>
/// Whole transactions over loopback TCP: our client into our server (backend discards), and Postfix's
/// smtp-source through <see cref="SmtpRelayBackend"/> into smtp-sink, against smtp-source straight into smtp-sink.
/// </summary>
[SimpleJob(warmupCount: 1, iterationCount: 5)]
public class SmtpProxyBenchmarks
{
    private SmtpServer? _server;
    private SmtpServer? _proxy;
    private CancellationTokenSource? _stop;
    private SmtpRelayClient? _client;
    private Process? _sink;
    private int _sinkPort;
    private int _proxyPort;
    private byte[] _message = [];

    [Params(1024 * 1024)]
    public int MessageSize { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _stop = new CancellationTokenSource();
        var options = new SmtpServerOptions { ServerName = "bench.test", MaxConnections = 1000 };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        _server = new SmtpServer(options, new DiscardBackend());
        _server.Start();
        _ = _server.RunAsync(_stop.Token);
        _client = await SmtpRelayClient.ConnectAsync(_server.LocalEndPoints[0], new SmtpRelayClientOptions(), CancellationToken.None);
        await _client.HelloAsync(CancellationToken.None);
        var body = new StringBuilder("Subject: bench\r\n\r\n");
        while (body.Length < MessageSize)
        {
            body.Append("0123456789012345678901234567890123456789012345678901234567890123456789012345\r\n");
        }

        _message = Encoding.ASCII.GetBytes(body.ToString());

        if (File.Exists("/usr/sbin/smtp-sink") && File.Exists("/usr/sbin/smtp-source"))
        {
            _sinkPort = FreePort();
            var start = new ProcessStartInfo("/usr/sbin/smtp-sink") { UseShellExecute = false };
            if (Environment.UserName == "root")
            {
                start.ArgumentList.Add("-u");
                start.ArgumentList.Add("nobody");
            }

            start.ArgumentList.Add($"127.0.0.1:{_sinkPort}");
            start.ArgumentList.Add("64");
            _sink = Process.Start(start);
            await Task.Delay(500);
            var proxyOptions = new SmtpServerOptions { ServerName = "proxy.test", MaxConnections = 1000 };
            proxyOptions.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            var relay = new SmtpRelayBackend((_, cancellationToken) => SmtpRelayClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, _sinkPort), new SmtpRelayClientOptions(), cancellationToken));
            _proxy = new SmtpServer(proxyOptions, relay);
            _proxy.Start();
            _proxyPort = ((IPEndPoint)_proxy.LocalEndPoints[0]).Port;
            _ = _proxy.RunAsync(_stop.Token);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Benchmark(Description = "client -> server, one message")]
    public async Task<int> ClientToServer()
    {
        await _client!.MailAsync(new MailFromCommand("a@example.org", "", []), null, CancellationToken.None);
        await _client.RcptAsync(new RcptToCommand("b@example.net", "", []), CancellationToken.None);
        SmtpReply reply = (await _client.DataAsync(new MemoryStream(_message, writable: false), CancellationToken.None))[0];
        return reply.Code;
    }

    [Benchmark(Description = "smtp-source -s 4 -m 200 -l 20000 -> relay -> smtp-sink")]
    public Task ThroughRelay() => RunSmtpSource(_proxyPort);

    [Benchmark(Description = "smtp-source -s 4 -m 200 -l 20000 -> smtp-sink (baseline)")]
    public Task Direct() => RunSmtpSource(_sinkPort);

    private async Task RunSmtpSource(int port)
    {
        if (_sink is null)
        {
            throw new InvalidOperationException("smtp-source/smtp-sink are not installed (apt-get install postfix).");
        }

        var start = new ProcessStartInfo("/usr/sbin/smtp-source") { UseShellExecute = false };
        foreach (string a in new[] { "-s", "4", "-m", "200", "-l", "20000", "-f", "a@example.org", "-t", "b@example.net", $"127.0.0.1:{port}" })
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"smtp-source exited with {process.ExitCode}");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        await _stop!.CancelAsync();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        if (_sink is { HasExited: false })
        {
            _sink.Kill();
            await _sink.WaitForExitAsync();
        }

        _sink?.Dispose();
    }

    private sealed class DiscardBackend : ISmtpBackend, ISmtpSessionHandler, ISmtpTransaction
    {
        private static readonly SmtpReply Queued = new(250, "2.0.0", "Ok: queued");

        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) => ValueTask.FromResult<ISmtpSessionHandler>(this);

        public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken) => ValueTask.FromResult(MailResult.Accept(this));

        public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) => ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Ok"));

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
        {
            await message.CopyToAsync(Stream.Null, cancellationToken);
            return Queued;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
