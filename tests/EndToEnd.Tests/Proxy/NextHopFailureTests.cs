using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Vault.Index;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// A next hop that takes MAIL, RCPT and the whole message, then either hangs up instead of answering the final dot
/// (whether it kept the message is unknowable) or refuses it with a reply (it certainly did not). Detach answers
/// 451 either way; only the refusal makes the stored objects garbage.
/// </summary>
public sealed class NextHopFailureTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<((int Code, string Text) Reply, AttachmentRecord Record)> SendAsync(DetachServer detach, RawSmtpConnection client, string messageId)
    {
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<sender@example.test>", Token)).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<alice@example.test>", Token)).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA", Token)).Code);
        var message = new StringBuilder()
            .Append($"Message-Id: {messageId}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
            .Append("--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
            .Append("--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"lost.pdf\"\r\n\r\n")
            .Append(Convert.ToBase64String(RandomNumberGenerator.GetBytes(200 * 1024), Base64FormattingOptions.InsertLineBreaks))
            .Append("\r\n--b1--\r\n.");
        await client.SendLineAsync(message.ToString(), Token);
        var reply = (await client.ReadReplyAsync(Token))!.Value;
        return (reply, Assert.Single(await detach.Vault.Index.FindByMessageIdAsync(messageId, Token)));
    }

    private static async Task<RawSmtpConnection> ConnectAsync(DetachServer detach)
    {
        var client = await RawSmtpConnection.ConnectAsync(detach.SmtpPort, Token);
        await client.ReadReplyAsync(Token);
        await client.CommandAsync("EHLO client.test", Token);
        return client;
    }

    [Fact]
    public async Task Next_hop_hanging_up_after_the_data_gives_451_and_the_stored_object_stays_live()
    {
        await using var nextHop = new ScriptedNextHop(refuseWith: null);
        await using var detach = await DetachServer.StartAsync([$"Smtp:NextHop=smtp://127.0.0.1:{nextHop.Port}"], Token);
        await using var client = await ConnectAsync(detach);

        var (reply, record) = await SendAsync(detach, client, TestFiles.NewMessageId("hang-up"));

        Assert.Equal(451, reply.Code);
        Assert.Equal(1, nextHop.MessagesReceived);
        Assert.Equal(StoreState.Stored, record.StoreState);
        Assert.Empty(await detach.Vault.Vault.CollectOrphansAsync(TimeSpan.Zero, Token));

        // The session survives and the next transaction gets a fresh next-hop connection.
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<sender@example.test>", Token)).Code);
        Assert.Equal(2, nextHop.Connections);
    }

    [Fact]
    public async Task Next_hop_refusing_the_data_with_a_reply_makes_the_stored_object_an_orphan()
    {
        await using var nextHop = new ScriptedNextHop(refuseWith: "554 5.7.1 Rejected by policy");
        await using var detach = await DetachServer.StartAsync([$"Smtp:NextHop=smtp://127.0.0.1:{nextHop.Port}"], Token);
        await using var client = await ConnectAsync(detach);

        var (reply, record) = await SendAsync(detach, client, TestFiles.NewMessageId("refused"));

        Assert.Equal(554, reply.Code);
        Assert.Equal(StoreState.Orphaned, record.StoreState);
        Assert.Equal(record.Cid, Assert.Single(await detach.Vault.Vault.CollectOrphansAsync(TimeSpan.Zero, Token)).Cid);
    }

    /// <summary>
    /// Answers like an SMTP server until the final dot; then refuses the message with <c>refuseWith</c>, or (null)
    /// closes the connection without a reply.
    /// </summary>
    private sealed class ScriptedNextHop : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly string? _refuseWith;
        private readonly Task _loop;
        private int _messages;
        private int _connections;

        public ScriptedNextHop(string? refuseWith)
        {
            _refuseWith = refuseWith;
            _listener.Start();
            _loop = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int MessagesReceived => Volatile.Read(ref _messages);

        public int Connections => Volatile.Read(ref _connections);

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = ServeAsync(socket);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(TcpClient socket)
        {
            using (socket)
            {
                try
                {
                    var stream = socket.GetStream();
                    using var reader = new StreamReader(stream, Encoding.Latin1);
                    await Write(stream, "220 fake ESMTP\r\n");
                    while (await reader.ReadLineAsync(_stop.Token) is { } line)
                    {
                        var verb = line.Split(' ')[0].ToUpperInvariant();
                        if (verb == "EHLO")
                        {
                            await Write(stream, "250-fake\r\n250 8BITMIME\r\n");
                        }
                        else if (verb == "DATA")
                        {
                            await Write(stream, "354 go on\r\n");
                            while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".")
                            {
                            }

                            Interlocked.Increment(ref _messages);
                            if (_refuseWith is null)
                            {
                                return; // hang up instead of answering the dot
                            }

                            await Write(stream, _refuseWith + "\r\n");
                        }
                        else if (verb == "QUIT")
                        {
                            await Write(stream, "221 bye\r\n");
                            return;
                        }
                        else
                        {
                            await Write(stream, "250 ok\r\n");
                        }
                    }
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
                {
                }
            }
        }

        private Task Write(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token).AsTask();

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }
}
