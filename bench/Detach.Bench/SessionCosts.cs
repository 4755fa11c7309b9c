using System.Net;
using System.Net.Sockets;
using System.Text;
using Detach.Gateway.Configuration;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.SmtpFront;
using Detach.Smtp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Bench;

/// <summary>
/// Whole SMTP sessions over loopback, one message each (connect, EHLO, MAIL, RCPT, DATA, QUIT, as smtp-source sends
/// them): straight into a sink, and through the detach proxy (<see cref="DetachingBackend"/> relaying to the same
/// sink). Client and sink run in this process too, so what detach costs per message is the difference of the two.
/// </summary>
internal sealed class SessionCosts : IAsyncDisposable
{
    private readonly SmtpServer _sink;
    private readonly SmtpServer _proxy;
    private readonly DetachingBackend _backend;
    private readonly byte[] _buffer = new byte[64 * 1024];

    public SessionCosts(DetachSettings settings, MessageDetacher detacher, DetachMetrics metrics, IPEndPoint sinkEndPoint, SmtpServer sinkServer)
    {
        _sink = sinkServer;
        SinkEndPoint = sinkEndPoint;
        _backend = new DetachingBackend(settings, detacher, new MessageSpools(settings.Root), metrics, NullLogger<DetachingBackend>.Instance);
        _proxy = new SmtpServer(SmtpFrontService.CreateOptions(settings.Smtp), _backend, NullLogger<SmtpServer>.Instance);
        _proxy.Start();
        _ = _proxy.RunAsync(CancellationToken.None);
        ProxyEndPoint = (IPEndPoint)_proxy.LocalEndPoints[0];
    }

    public IPEndPoint SinkEndPoint { get; }

    public IPEndPoint ProxyEndPoint { get; }

    /// <summary>A sink on a free loopback port that takes every message and announces XFORWARD, as Postfix's reinjection smtpd.</summary>
    public static SmtpServer StartSink()
    {
        var options = new SmtpServerOptions { ServerName = "sink.bench.test", InlineCompletions = true };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        options.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.0/8"));
        var server = new SmtpServer(options, new SinkBackend(), NullLogger<SmtpServer>.Instance);
        server.Start();
        _ = server.RunAsync(CancellationToken.None);
        return server;
    }

    /// <summary>One session carrying <paramref name="wire"/> (the message as DATA carries it, final dot included).</summary>
    public async Task SendAsync(IPEndPoint to, byte[] wire)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(to);
        await ExpectAsync(socket, 220);
        await CommandAsync(socket, "EHLO client.bench.test\r\n"u8.ToArray(), 250);
        await CommandAsync(socket, "MAIL FROM:<bench@client.test>\r\n"u8.ToArray(), 250);
        await CommandAsync(socket, "RCPT TO:<alice@example.test>\r\n"u8.ToArray(), 250);
        await CommandAsync(socket, "DATA\r\n"u8.ToArray(), 354);
        await CommandAsync(socket, wire, 250);
        await CommandAsync(socket, "QUIT\r\n"u8.ToArray(), 221);
    }

    private async Task CommandAsync(Socket socket, byte[] command, int expected)
    {
        await socket.SendAsync(command, SocketFlags.None);
        await ExpectAsync(socket, expected);
    }

    /// <summary>Reads one whole reply (its last line is "ddd " ... CRLF).</summary>
    private async Task ExpectAsync(Socket socket, int expected)
    {
        int filled = 0;
        while (true)
        {
            int n = await socket.ReceiveAsync(_buffer.AsMemory(filled), SocketFlags.None);
            if (n == 0)
            {
                throw new IOException("The server closed the connection.");
            }

            filled += n;
            if (filled >= 2 && _buffer[filled - 2] == '\r' && _buffer[filled - 1] == '\n')
            {
                int lastLine = _buffer.AsSpan(0, filled - 2).LastIndexOf((byte)'\n') + 1;
                if (filled - lastLine >= 4 && _buffer[lastLine + 3] == ' ')
                {
                    var code = int.Parse(Encoding.ASCII.GetString(_buffer, lastLine, 3), System.Globalization.CultureInfo.InvariantCulture);
                    if (code != expected)
                    {
                        throw new InvalidOperationException($"Expected {expected}, got: {Encoding.ASCII.GetString(_buffer, 0, filled)}");
                    }

                    return;
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        await _sink.DisposeAsync();
    }

    private sealed class SinkBackend : ISmtpBackend, ISmtpSessionHandler, ISmtpTransaction
    {
        private readonly byte[] _drain = new byte[64 * 1024];

        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult<ISmtpSessionHandler>(this);

        public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken) =>
            ValueTask.FromResult(MailResult.Accept(this));

        public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Ok"));

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
        {
            while (await message.ReadAsync(_drain, cancellationToken) > 0)
            {
            }

            return new SmtpReply(250, "2.0.0", "Ok: queued");
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
