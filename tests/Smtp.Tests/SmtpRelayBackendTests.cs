using System.Net;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>A proxy chain on loopback: client → front server with <see cref="SmtpRelayBackend"/> → back server.</summary>
public class SmtpRelayBackendTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ServerHost StartFront(ServerHost back, Action<SmtpServerOptions>? configure = null)
    {
        var relay = new SmtpRelayBackend((_, cancellationToken) => SmtpRelayClient.OpenAsync(back.EndPoint, new SmtpRelayClientOptions { ClientName = "front.test" }, cancellationToken));
        return ServerHost.Start(relay, o =>
        {
            o.ServerName = "front.test";
            o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.0/8"));
            configure?.Invoke(o);
        });
    }

    private static ServerHost StartBack(TestBackend backend) =>
        ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.0/8")));

    [Fact]
    public async Task Relays_envelope_xforward_and_message_with_verbatim_replies()
    {
        var backend = new TestBackend
        {
            OnRcpt = r => r.ForwardPath == "nobody@x" ? new SmtpReply(550, "5.1.1", ["<nobody@x>: Recipient address rejected:", "User unknown"]) : new SmtpReply(250, "2.1.5", "Ok"),
        };
        await using ServerHost back = StartBack(backend);
        await using ServerHost front = StartFront(back);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint);
        await client.CommandAsync("EHLO postfix.test");
        Assert.Equal(250, (await client.CommandAsync("XFORWARD NAME=mail.example.com ADDR=203.0.113.5 PROTO=ESMTP HELO=mail.example.com")).Code);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<sender@example.com> BODY=8BITMIME SIZE=200")).Code);
        RawSmtpReply rejected = await client.CommandAsync("RCPT TO:<nobody@x>");
        Assert.Equal("550-5.1.1 <nobody@x>: Recipient address rejected:\r\n550 5.1.1 User unknown\r\n", rejected.ToString());
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<user@x> NOTIFY=NEVER")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync("Subject: relayed\r\n\r\n..dotted\r\nbody\r\n.\r\n");
        RawSmtpReply done = await client.ReadReplyAsync();
        Assert.Equal("250 2.0.0 Ok: queued as TEST\r\n", done.ToString());

        ReceivedMessage message = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal("sender@example.com", message.From);
        Assert.Equal(["user@x"], message.Recipients);
        Assert.Equal("Subject: relayed\r\n\r\n.dotted\r\nbody\r\n", Encoding.ASCII.GetString(message.Data));
        Assert.Equal("203.0.113.5", message.Forwarded["ADDR"]);
        Assert.Equal("mail.example.com", message.Forwarded["HELO"]);
        Assert.Equal("front.test", message.Helo);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
    }

    /// <summary>A client the front does not trust cannot name another: the next hop is told the connection's real peer.</summary>
    [Fact]
    public async Task An_unauthorised_client_is_passed_on_as_its_real_address()
    {
        var backend = new TestBackend();
        await using ServerHost back = StartBack(backend);
        await using ServerHost front = StartFront(back, o => o.AuthorizedForwarders.Clear());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint, from: IPAddress.Parse("127.0.0.2"));
        await client.CommandAsync("EHLO liar.example");
        Assert.Equal(550, (await client.CommandAsync("XFORWARD ADDR=6.6.6.6 NAME=trusted.bank.test")).Code);
        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: who\r\n\r\nhi\r\n.")).Code);

        ReceivedMessage message = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal("127.0.0.2", message.Forwarded["ADDR"]);
        Assert.Equal("liar.example", message.Forwarded["HELO"]);
        Assert.DoesNotContain("trusted.bank.test", message.Forwarded.Values);
    }

    [Fact]
    public async Task Client_vanishing_mid_data_leaves_the_next_hop_without_a_message()
    {
        var backend = new TestBackend();
        await using ServerHost back = StartBack(backend);
        await using ServerHost front = StartFront(back);
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint);
        await client.SendAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        Assert.Equal(new[] { 250, 250, 250, 354 }, await client.ReadCodesAsync(4));
        await client.SendAsync(string.Concat(Enumerable.Repeat("a line of a message that will never end\r\n", 5000)));
        await client.DisposeAsync();

        Assert.IsAssignableFrom<IOException>(await backend.DataFailures.Reader.ReadAsync(Ct));
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Rset_abandons_the_downstream_transaction_and_the_next_one_works()
    {
        var backend = new TestBackend();
        await using ServerHost back = StartBack(backend);
        await using ServerHost front = StartFront(back);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint);
        await client.SendAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRSET\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n");
        Assert.Equal(new[] { 250, 250, 250, 250, 250, 250, 354 }, await client.ReadCodesAsync(7));
        await client.SendAsync("second\r\n.\r\n");
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        ReceivedMessage message = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal("e@f", message.From);
        Assert.Equal(["g@h"], message.Recipients);
    }

    [Fact]
    public async Task Unreachable_next_hop_gives_421_at_connect()
    {
        int port = FreePort.Next();
        var relay = new SmtpRelayBackend((_, cancellationToken) => SmtpRelayClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, port), new SmtpRelayClientOptions(), cancellationToken));
        await using ServerHost front = ServerHost.Start(relay);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint, readGreeting: false);
        RawSmtpReply reply = await client.ReadReplyAsync();
        Assert.Equal((421, "4.3.0"), (reply.Code, reply.EnhancedCode));
    }

    [Fact]
    public async Task Smtp_source_through_the_relay_into_smtp_sink_delivers_every_message()
    {
        await using SmtpSink sink = await SmtpSink.StartAsync(keepMessages: true, Ct);
        var relay = new SmtpRelayBackend((_, cancellationToken) => SmtpRelayClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, sink.Port), new SmtpRelayClientOptions { ClientName = "front.test" }, cancellationToken));
        await using ServerHost front = ServerHost.Start(relay);
        var sent = await SmtpSource.RunAsync(
            front.EndPoint.Port,
            new SmtpSourceOptions { Sessions = 4, Messages = 40, MessageLength = 20000, From = "from@example.org", To = "to@example.net" },
            TimeSpan.FromMinutes(2),
            Ct);
        Assert.True(sent.Succeeded, sent.ToString());
        var dumps = await sink.WaitForMessagesAsync(40, TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(40, dumps.Count);
        Assert.All(dumps, d => Assert.Contains("X-Mail-Args: <from@example.org>", d, StringComparison.Ordinal));
    }
}

public class SmtpToLmtpRelayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Smtp_front_before_lmtp_next_hop_takes_one_recipient_per_transaction()
    {
        var backend = new TestBackend { Lmtp = true };
        await using ServerHost back = ServerHost.Start(backend, o => o.Lmtp = true);
        var relay = new SmtpRelayBackend((_, cancellationToken) => SmtpRelayClient.OpenAsync(back.EndPoint, new SmtpRelayClientOptions { Lmtp = true, ClientName = "front.test" }, cancellationToken));
        await using ServerHost front = ServerHost.Start(relay);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(front.EndPoint);
        await client.SendAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<full@x>\r\nRCPT TO:<two@x>\r\nDATA\r\nhello\r\n.\r\n");
        Assert.Equal(new[] { 250, 250, 250, 452, 354 }, await client.ReadCodesAsync(5));
        RawSmtpReply first = await client.ReadReplyAsync();
        Assert.Equal("452 4.2.2 <full@x> Mailbox full\r\n", first.ToString());

        await client.SendAsync("MAIL FROM:<a@b>\r\nRCPT TO:<two@x>\r\nDATA\r\nhello\r\n.\r\n");
        Assert.Equal(new[] { 250, 250, 354 }, await client.ReadCodesAsync(3));
        Assert.Equal("250 2.0.0 <two@x> Saved\r\n", (await client.ReadReplyAsync()).ToString());
        Assert.Equal(["full@x"], (await backend.Messages.Reader.ReadAsync(Ct)).Recipients);
        Assert.Equal(["two@x"], (await backend.Messages.Reader.ReadAsync(Ct)).Recipients);
    }
}
