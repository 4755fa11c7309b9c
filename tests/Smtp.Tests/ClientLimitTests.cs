using System.Net;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>Limits per client: connections per address, and a deadline for receiving a message that a trickle cannot beat.</summary>
public class ClientLimitTests
{
    private static readonly IPAddress Greedy = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.3");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_address_cannot_take_every_slot()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        var clients = new List<RawSmtpClient>();
        try
        {
            var greetings = new List<RawSmtpReply>();
            for (int i = 0; i < host.Options.MaxConnections; i++)
            {
                RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint, readGreeting: false, from: Greedy);
                clients.Add(client);
                greetings.Add(await client.ReadReplyAsync());
            }

            Assert.Equal(host.Options.MaxConnectionsPerClient, greetings.Count(g => g.Code == 220));
            Assert.All(greetings.Where(g => g.Code != 220), g => Assert.Equal((421, "4.7.0"), (g.Code, g.EnhancedCode)));

            await using RawSmtpClient other = await RawSmtpClient.ConnectAsync(host.EndPoint, from: Other);
            Assert.Equal(250, (await other.CommandAsync("HELO other.example")).Code);
            Assert.Equal(250, (await other.CommandAsync("MAIL FROM:<a@b>")).Code);

            // A slot freed by the greedy client is its own again.
            await clients[0].DisposeAsync();
            clients.RemoveAt(0);
            await WaitAsync(() => host.Server.ActiveSessions == host.Options.MaxConnectionsPerClient);
            await using RawSmtpClient again = await RawSmtpClient.ConnectAsync(host.EndPoint, from: Greedy);
        }
        finally
        {
            foreach (RawSmtpClient client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Authorised_forwarders_are_not_limited_per_client()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o =>
        {
            o.MaxConnectionsPerClient = 2;
            o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.2/32"));
        });
        var clients = new List<RawSmtpClient>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                clients.Add(await RawSmtpClient.ConnectAsync(host.EndPoint, from: Greedy));
            }

            await using RawSmtpClient limited = await RawSmtpClient.ConnectAsync(host.EndPoint, from: Other);
            await using RawSmtpClient second = await RawSmtpClient.ConnectAsync(host.EndPoint, from: Other);
            await using RawSmtpClient refused = await RawSmtpClient.ConnectAsync(host.EndPoint, readGreeting: false, from: Other);
            RawSmtpReply refusal = await refused.ReadReplyAsync();
            Assert.Equal((421, "4.7.0"), (refusal.Code, refusal.EnhancedCode));
        }
        finally
        {
            foreach (RawSmtpClient client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::")]
    public void Connections_are_counted_per_ipv4_address_and_per_ipv6_64(string address, string group)
    {
        Assert.Equal(IPAddress.Parse(group), ClientAddress.Group(new IPEndPoint(IPAddress.Parse(address), 25)));
        Assert.Null(ClientAddress.Group(new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/x")));
    }

    [Fact]
    public void A_deadline_is_spent_by_waiting_and_topped_up_by_bytes_never_above_the_timeout()
    {
        var deadline = new DataDeadline(TimeSpan.FromSeconds(10), minBytesPerSecond: 100);
        deadline.Record(TimeSpan.FromSeconds(4), 100); // 10 - 4 + 1
        Assert.Equal(TimeSpan.FromSeconds(7), deadline.Remaining);
        deadline.Record(TimeSpan.FromSeconds(1), 1_000_000);
        Assert.Equal(TimeSpan.FromSeconds(10), deadline.Remaining);
        for (int i = 0; i < 3; i++)
        {
            deadline.Record(TimeSpan.FromSeconds(5), 1); // a trickle: 5 s for 0.01 s of credit
        }

        Assert.True(deadline.IsExpired);
        Assert.Equal(TimeSpan.Zero, deadline.Remaining);

        var perRead = new DataDeadline(TimeSpan.FromSeconds(10));
        perRead.Record(TimeSpan.FromSeconds(9), 1);
        Assert.Equal(TimeSpan.FromSeconds(10), perRead.Remaining);
    }

    [Fact]
    public async Task A_message_trickling_in_over_data_is_cut_with_421()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, SlowlorisLimits);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        int[] codes = await client.ReadCodesAsync(4);
        Assert.Equal([250, 250, 250, 354], codes);
        RawSmtpReply reply = await TrickleUntilRepliedAsync(client, "x");
        Assert.Equal((421, "4.4.2"), (reply.Code, reply.EnhancedCode));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.IsType<TimeoutException>(await backend.DataFailures.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    /// <summary>One-octet chunks, each quickly after its command: the waits for the BDAT commands count too.</summary>
    [Fact]
    public async Task A_message_trickling_in_as_tiny_bdat_chunks_is_cut_with_421()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, SlowlorisLimits);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
        await client.ReadCodesAsync(3);
        RawSmtpReply reply = await TrickleUntilRepliedAsync(client, "BDAT 1\r\nx", skip: 250);
        Assert.Equal((421, "4.4.2"), (reply.Code, reply.EnhancedCode));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task A_message_at_a_fair_rate_is_not_cut()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, SlowlorisLimits);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        await client.ReadCodesAsync(4);
        string line = new string('y', 998) + "\r\n";
        for (int i = 0; i < 10; i++)
        {
            // A pause the budget covers, then enough octets to pay for it.
            await Task.Delay(100, Ct);
            await client.SendAsync(string.Concat(Enumerable.Repeat(line, 20)));
        }

        await client.SendAsync(".\r\n");
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        Assert.Equal(200_000, (await backend.Messages.Reader.ReadAsync(Ct)).Data.Length);
    }

    /// <summary>The test's deadline: 1 s, and 100 kB/s to be kept up; a command may still idle for a minute.</summary>
    private static void SlowlorisLimits(SmtpServerOptions options)
    {
        options.Limits.IdleTimeout = TimeSpan.FromMinutes(1);
        options.Limits.DataTimeout = TimeSpan.FromSeconds(1);
        options.Limits.MinDataRate = 100_000;
    }

    /// <summary>Sends <paramref name="piece"/> every 100 ms (well within the timeout for each read) until a reply other than <paramref name="skip"/> comes.</summary>
    private static async Task<RawSmtpReply> TrickleUntilRepliedAsync(RawSmtpClient client, string piece, int skip = 0)
    {
        Task<RawSmtpReply> reply = client.ReadReplyAsync();
        for (int i = 0; i < 300; i++)
        {
            while (reply.IsCompleted)
            {
                if (reply.Result.Code != skip)
                {
                    return reply.Result;
                }

                reply = client.ReadReplyAsync();
            }

            try
            {
                await client.SendAsync(Encoding.ASCII.GetBytes(piece));
            }
            catch (IOException)
            {
                // Closed by the server: its reply is on the way.
            }

            await Task.Delay(100, Ct);
        }

        Assert.Fail("The trickle was never cut.");
        return null!;
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        patience.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, patience.Token);
        }
    }
}
