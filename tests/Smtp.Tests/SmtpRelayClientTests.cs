using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Smtp.Tests;

public class SmtpRelayClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static SmtpRelayClientOptions Options(bool lmtp = false) => new() { ClientName = "relay.test", Lmtp = lmtp, CommandTimeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Relays_a_message_end_to_end_with_xforward_and_verbatim_replies()
    {
        var backend = new TestBackend
        {
            OnRcpt = r => r.ForwardPath == "nobody@x" ? new SmtpReply(550, "5.1.1", ["<nobody@x>: Recipient address rejected:", "User unknown in local table"]) : new SmtpReply(250, "2.1.5", "Ok"),
        };
        await using ServerHost host = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.1/32")));
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        Assert.Equal("mx.test ESMTP Detach", client.Greeting.Text);

        Assert.Equal(250, (await client.HelloAsync(Ct)).Code);
        Assert.True(client.Capabilities.Pipelining);
        Assert.True(client.Capabilities.EightBitMime);
        Assert.True(client.Capabilities.SmtpUtf8);
        Assert.True(client.Capabilities.Dsn);
        Assert.True(client.Capabilities.Chunking);
        Assert.Equal(host.Options.Limits.MaxMessageSize, client.Capabilities.MaxSize);
        Assert.Contains("SOURCE", client.Capabilities.XforwardAttributes);

        var mail = new MailFromCommand("sender@example.org", "BODY=8BITMIME RET=HDRS ENVID=abc+2B1", []);
        Dictionary<string, string?> identity = new() { ["NAME"] = "client.example.org", ["ADDR"] = "192.0.2.5", ["HELO"] = "weird helo+name", ["IDENT"] = null, ["NOT-ANNOUNCED"] = "x" };
        Assert.Equal(250, (await client.MailAsync(mail, identity, Ct)).Code);
        SmtpReply rejected = await client.RcptAsync(new RcptToCommand("nobody@x", "", []), Ct);
        Assert.Equal("550-5.1.1 <nobody@x>: Recipient address rejected:\r\n550 5.1.1 User unknown in local table\r\n", rejected.ToString());
        Assert.Equal(250, (await client.RcptAsync(new RcptToCommand("someone@x", "NOTIFY=FAILURE ORCPT=rfc822;someone@x", []), Ct)).Code);
        Assert.Equal(1, client.AcceptedRecipients);

        byte[] message = Encoding.ASCII.GetBytes("Subject: dots\r\n\r\n.\r\n..two\r\n.last line without crlf");
        SmtpReply done = Assert.Single(await client.DataAsync(new MemoryStream(message), Ct));
        Assert.Equal("250 2.0.0 Ok: queued as TEST\r\n", done.ToString());

        ReceivedMessage received = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal("Subject: dots\r\n\r\n.\r\n..two\r\n.last line without crlf\r\n", Encoding.ASCII.GetString(received.Data));
        Assert.Equal("sender@example.org", received.From);
        Assert.Equal(["someone@x"], received.Recipients);
        Assert.Equal("weird helo+name", received.Forwarded["HELO"]);
        Assert.Equal("[UNAVAILABLE]", received.Forwarded["IDENT"]);
        Assert.Equal("192.0.2.5", received.Forwarded["ADDR"]);
        await client.QuitAsync(Ct);
        Assert.False(client.IsUsable);
    }

    [Fact]
    public async Task Xforward_is_split_to_fit_the_line_limit_and_skipped_when_not_offered()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.0/8")));
        SmtpRelayClientOptions options = Options();
        options.MaxCommandLineLength = 80;
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, options, Ct);
        await client.HelloAsync(Ct);
        string name = new string('n', 50) + ".example";
        string helo = new string('h', 50);
        Dictionary<string, string?> identity = new() { ["NAME"] = name, ["HELO"] = helo, ["ADDR"] = "192.0.2.1", ["PROTO"] = "ESMTP" };
        Assert.Equal(250, (await client.MailAsync(new MailFromCommand("a@b", "", []), identity, Ct)).Code);
        await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        await client.DataAsync(new MemoryStream("x\r\n"u8.ToArray()), Ct);
        ReceivedMessage received = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal(name, received.Forwarded["NAME"]);
        Assert.Equal(helo, received.Forwarded["HELO"]);
        Assert.Equal("ESMTP", received.Forwarded["PROTO"]);

        // A server that offers no XFORWARD gets none: its 550 would refuse the mail.
        var plainBackend = new TestBackend();
        await using ServerHost plain = ServerHost.Start(plainBackend);
        await using SmtpRelayClient other = await SmtpRelayClient.OpenAsync(plain.EndPoint, Options(), Ct);
        Assert.Equal(250, (await other.MailAsync(new MailFromCommand("a@b", "", []), identity, Ct)).Code);
        await other.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        await other.DataAsync(new MemoryStream("x\r\n"u8.ToArray()), Ct);
        Assert.Empty((await plainBackend.Messages.Reader.ReadAsync(Ct)).Forwarded);
    }

    [Fact]
    public async Task Lmtp_data_returns_one_reply_per_accepted_recipient_over_a_unix_socket()
    {
        string path = Path.Combine(Path.GetTempPath(), $"detach-lmtp-{Guid.NewGuid():N}.sock");

        // A socket file nobody listens on (as a dead process leaves it) must not stop the server from binding.
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(path));
        Assert.True(File.Exists(path));
        var backend = new TestBackend { Lmtp = true, OnRcpt = r => r.ForwardPath == "nobody@x" ? new SmtpReply(550, "5.1.1", "unknown") : new SmtpReply(250, "2.1.5", "Ok") };
        var options = new SmtpServerOptions { ServerName = "lmtp.test", Lmtp = true };
        options.EndPoints.Add(new UnixDomainSocketEndPoint(path));
        await using var server = new SmtpServer(options, backend);
        using var stop = new CancellationTokenSource();
        Task run = server.RunAsync(stop.Token);
        try
        {
            await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(new UnixDomainSocketEndPoint(path), Options(lmtp: true), Ct);
            Assert.Equal(250, (await client.HelloAsync(Ct)).Code);
            await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
            await client.RcptAsync(new RcptToCommand("one@x", "", []), Ct);
            await client.RcptAsync(new RcptToCommand("nobody@x", "", []), Ct);
            await client.RcptAsync(new RcptToCommand("full@x", "", []), Ct);
            IReadOnlyList<SmtpReply> replies = await client.DataAsync(new MemoryStream("hello\r\n"u8.ToArray()), Ct);
            Assert.Equal(["250 2.0.0 <one@x> Saved\r\n", "452 4.2.2 <full@x> Mailbox full\r\n"], replies.Select(r => r.ToString()));
            Assert.Equal(250, (await client.NoopAsync(Ct)).Code);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
            File.Delete(path);
        }
    }

    /// <summary>A source that gives some bytes and then fails, like a spool file on a broken disk.</summary>
    private sealed class FailingStream(int goodBytes) : Stream
    {
        private int _left = goodBytes;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_left == 0)
            {
                throw new IOException("source failed");
            }

            int n = Math.Min(count, _left);
            for (int i = 0; i < n; i++, _position++)
            {
                buffer[offset + i] = (_position % 80) switch { 78 => (byte)'\r', 79 => (byte)'\n', _ => (byte)'a' };
            }

            _left -= n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Source_failing_mid_data_drops_the_connection_without_the_final_dot()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        IOException failure = await Assert.ThrowsAsync<IOException>(() => client.DataAsync(new FailingStream(200_000), Ct));
        Assert.Equal("source failed", failure.Message);
        Assert.False(client.IsUsable);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.NoopAsync(Ct));

        Assert.IsAssignableFrom<IOException>(await backend.DataFailures.Reader.ReadAsync(Ct));
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Cancelling_mid_data_also_drops_the_connection()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        using var cancel = new CancellationTokenSource();
        var pipe = new System.IO.Pipelines.Pipe();
        await pipe.Writer.WriteAsync("first line\r\n"u8.ToArray(), Ct);
        Task<IReadOnlyList<SmtpReply>> data = client.DataAsync(pipe.Reader.AsStream(), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => data);
        Assert.False(client.IsUsable);
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Refused_greeting_throws_with_the_servers_reply()
    {
        var backend = new RefusingBackend();
        await using ServerHost host = ServerHost.Start(new TestBackend());
        var options = new SmtpServerOptions { ServerName = "busy.test" };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        await using var server = new SmtpServer(options, backend);
        using var stop = new CancellationTokenSource();
        server.Start();
        Task run = server.RunAsync(stop.Token);
        SmtpException e = await Assert.ThrowsAsync<SmtpException>(() => SmtpRelayClient.ConnectAsync(server.LocalEndPoints[0], Options(), Ct));
        Assert.Equal((554, "5.3.2"), (e.Reply.Code, e.Reply.EnhancedCode));
        await stop.CancelAsync();
        await run;
    }

    private sealed class RefusingBackend : ISmtpBackend
    {
        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) =>
            throw new SmtpException(554, "5.3.2", "busy.test Service currently unavailable");
    }

    [Fact]
    public async Task Malformed_server_reply_breaks_the_connection()
    {
        using var peer = ScriptedPeer.Start();
        Task server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 fake\r\n"u8.ToArray(), Ct);
            byte[] buffer = new byte[100];
            _ = await stream.ReadAsync(buffer, Ct);
            await stream.WriteAsync("250-fake\r\n251 mismatched\r\n"u8.ToArray(), Ct);
            _ = await stream.ReadAsync(buffer, Ct);
            return true;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        await Assert.ThrowsAsync<SmtpProtocolException>(() => client.HelloAsync(Ct));
        Assert.False(client.IsUsable);
        await server;
    }

    [Fact]
    public async Task Command_text_with_line_breaks_is_refused_before_sending()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        await Assert.ThrowsAsync<ArgumentException>(() => client.MailAsync(new MailFromCommand("a@b>\r\nRCPT TO:<victim@x", "", []), null, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => client.RcptAsync(new RcptToCommand("c@d", "NOTIFY=NEVER\nDATA", []), Ct));
        Assert.True(client.IsUsable);
        Assert.Equal(250, (await client.MailAsync(new MailFromCommand("", "", []), null, Ct)).Code);
    }

    [Fact]
    public async Task Client_falls_back_to_helo_when_ehlo_is_refused()
    {
        using var peer = ScriptedPeer.Start();
        Task server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 old\r\n"u8.ToArray(), Ct);
            Assert.StartsWith("EHLO ", await reader.ReadLineAsync(Ct));
            await stream.WriteAsync("502 5.5.1 EHLO not implemented\r\n"u8.ToArray(), Ct);
            Assert.Equal("HELO relay.test", await reader.ReadLineAsync(Ct));
            await stream.WriteAsync("250 old\r\n"u8.ToArray(), Ct);
            return true;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        Assert.Equal(250, (await client.HelloAsync(Ct)).Code);
        Assert.False(client.Capabilities.Pipelining);
        await server;
    }

    [Fact]
    public async Task Quit_sends_quit_and_closes_without_waiting_for_221()
    {
        using var peer = ScriptedPeer.Start();
        var server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 slow.test ESMTP\r\n"u8.ToArray(), Ct);
            var quit = await reader.ReadLineAsync(Ct);
            // Never answer: the client must close on its own.
            var after = await reader.ReadLineAsync(Ct);
            return (quit, after);
        });

        var client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        await client.QuitAsync(Ct);

        var (quit, after) = await server;
        Assert.Equal("QUIT", quit);
        Assert.Null(after); // end of stream: the connection was closed without waiting for a reply
        Assert.False(client.IsUsable);
    }

    /// <summary>
    /// The peer reads XFORWARD and MAIL before it answers either: a client that waited for the XFORWARD reply
    /// before sending MAIL would never get one, and the test would time out.
    /// </summary>
    [Fact]
    public async Task Xforward_and_mail_go_out_in_one_pipelined_write_when_pipelining_is_offered()
    {
        using var peer = ScriptedPeer.Start();
        Task<string[]> server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 next.test ESMTP\r\n"u8.ToArray(), Ct);
            Assert.StartsWith("EHLO ", await reader.ReadLineAsync(Ct));
            await stream.WriteAsync("250-next.test\r\n250-PIPELINING\r\n250 XFORWARD NAME ADDR\r\n"u8.ToArray(), Ct);
            string[] commands = [(await reader.ReadLineAsync(Ct))!, (await reader.ReadLineAsync(Ct))!];
            await stream.WriteAsync("250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"u8.ToArray(), Ct);
            Assert.Equal("RCPT TO:<c@d>", await reader.ReadLineAsync(Ct));
            await stream.WriteAsync("250 2.1.5 Ok\r\n"u8.ToArray(), Ct);
            return commands;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        patience.CancelAfter(TimeSpan.FromSeconds(20));
        SmtpReply mail = await client.MailAsync(new MailFromCommand("a@b", "BODY=8BITMIME", []), [new("ADDR", "192.0.2.7"), new("HELO", "not announced")], patience.Token);

        Assert.Equal("250 2.1.0 Ok\r\n", mail.ToString());
        Assert.True(client.InTransaction);
        Assert.Equal(250, (await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct)).Code);
        Assert.Equal(["XFORWARD ADDR=192.0.2.7", "MAIL FROM:<a@b> BODY=8BITMIME"], await server);
    }

    [Fact]
    public async Task Refused_xforward_wins_over_an_accepted_mail_which_is_reset()
    {
        using var peer = ScriptedPeer.Start();
        Task<string?> server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 next.test ESMTP\r\n"u8.ToArray(), Ct);
            await reader.ReadLineAsync(Ct);
            await stream.WriteAsync("250-next.test\r\n250-PIPELINING\r\n250 XFORWARD NAME ADDR\r\n"u8.ToArray(), Ct);
            await reader.ReadLineAsync(Ct);
            await reader.ReadLineAsync(Ct);
            await stream.WriteAsync("550 5.7.0 Error: insufficient authorization\r\n250 2.1.0 Ok\r\n"u8.ToArray(), Ct);
            string? reset = await reader.ReadLineAsync(Ct);
            await stream.WriteAsync("250 2.0.0 Ok\r\n"u8.ToArray(), Ct);
            return reset;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        SmtpReply reply = await client.MailAsync(new MailFromCommand("a@b", "", []), [new("ADDR", "192.0.2.7")], Ct);

        Assert.Equal(550, reply.Code);
        Assert.False(client.InTransaction);
        Assert.True(client.IsUsable);
        Assert.Equal("RSET", await server);
    }

    /// <summary>Without PIPELINING each command waits for its reply: the peer answers XFORWARD before MAIL can come.</summary>
    [Fact]
    public async Task Without_pipelining_xforward_and_mail_go_one_at_a_time()
    {
        using var peer = ScriptedPeer.Start();
        Task server = peer.RunAsync(async (stream, reader) =>
        {
            await stream.WriteAsync("220 next.test ESMTP\r\n"u8.ToArray(), Ct);
            await reader.ReadLineAsync(Ct);
            await stream.WriteAsync("250-next.test\r\n250 XFORWARD ADDR\r\n"u8.ToArray(), Ct);
            Assert.Equal("XFORWARD ADDR=192.0.2.7", await reader.ReadLineAsync(Ct));
            await Task.Delay(100, Ct);
            Assert.False(stream.DataAvailable);
            await stream.WriteAsync("250 2.0.0 Ok\r\n"u8.ToArray(), Ct);
            Assert.Equal("MAIL FROM:<a@b>", await reader.ReadLineAsync(Ct));
            await stream.WriteAsync("451 4.3.0 Try later\r\n"u8.ToArray(), Ct);
            return true;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(peer.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        Assert.Equal(451, (await client.MailAsync(new MailFromCommand("a@b", "", []), [new("ADDR", "192.0.2.7")], Ct)).Code);
        Assert.False(client.InTransaction);
        await server;
    }

    [Fact]
    public async Task A_transaction_is_open_from_an_accepted_mail_to_the_final_reply_or_rset()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        Assert.False(client.InTransaction);
        await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
        Assert.True(client.InTransaction);
        Assert.True(await client.TryResetAsync(Ct));
        Assert.False(client.InTransaction);
        await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        Assert.True(client.InTransaction);
        Assert.Equal(250, (await client.DataAsync(new MemoryStream("x\r\n"u8.ToArray()), Ct))[0].Code);
        Assert.False(client.InTransaction);
    }

    /// <summary>
    /// To a server offering CHUNKING the message goes in BDAT chunks, to one without it after DATA; the next hop
    /// receives the same bytes either way: bare LFs made CRLF, dot lines as they were, the last line ended.
    /// </summary>
    [Theory]
    [InlineData("Subject: small\r\n\r\n.\r\n..two\r\n.last line without crlf")]
    [InlineData("bare\nlf\n.\nends in cr\r")]
    [InlineData("")]
    [InlineData("big")]
    public async Task Bdat_and_data_deliver_the_same_bytes(string text)
    {
        byte[] message = text == "big"
            ? Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 4000).Select(i => i % 7 == 0 ? $".dot {i}\n" : $"line {i} of a message bigger than one chunk\r\n")))
            : Encoding.ASCII.GetBytes(text);
        var received = new List<byte[]>();
        foreach (bool chunking in new[] { true, false })
        {
            var backend = new TestBackend();
            await using ServerHost host = ServerHost.Start(backend, o => o.Chunking = chunking);
            await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
            await client.HelloAsync(Ct);
            Assert.Equal(chunking, client.Capabilities.Chunking);
            await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
            await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
            Assert.Equal(250, (await client.DataAsync(new MemoryStream(message), Ct))[0].Code);
            Assert.False(client.InTransaction);
            received.Add((await backend.Messages.Reader.ReadAsync(Ct)).Data);
            Assert.Equal(250, (await client.NoopAsync(Ct)).Code); // the connection is in step after the last chunk
        }

        Assert.Equal(received[1], received[0]);
        string wire = Encoding.ASCII.GetString(received[0]);
        Assert.DoesNotContain("\n", wire.Replace("\r\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True(wire.Length == 0 || wire.EndsWith("\r\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chunk_refused_for_size_is_the_verdict_on_the_message()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 100_000);
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, Options(), Ct);
        await client.HelloAsync(Ct);
        await client.MailAsync(new MailFromCommand("a@b", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("c@d", "", []), Ct);
        SmtpReply verdict = Assert.Single(await client.DataAsync(new MemoryStream(new byte[300_000]), Ct));
        Assert.Equal(552, verdict.Code);
        Assert.True(client.IsUsable);
        Assert.Equal(250, (await client.NoopAsync(Ct)).Code);
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    /// <summary>A server the test scripts line by line, for replies our own server would never send.</summary>
    private sealed class ScriptedPeer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

        private ScriptedPeer() => _listener.Start();

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

        public static ScriptedPeer Start() => new();

        /// <summary>Accepts one connection and runs <paramref name="script"/> on it.</summary>
        public Task<T> RunAsync<T>(Func<NetworkStream, StreamReader, Task<T>> script) => Task.Run(async () =>
        {
            using TcpClient peer = await _listener.AcceptTcpClientAsync(Ct);
            NetworkStream stream = peer.GetStream();
            return await script(stream, new StreamReader(stream, Encoding.ASCII));
        }, Ct);

        public void Dispose() => _listener.Dispose();
    }
}
