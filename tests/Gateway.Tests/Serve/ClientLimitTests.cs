using System.Net;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Gateway.Tests.Download;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// One client cannot take every SMTP slot: Smtp:MaxConnectionsPerClient refuses its extra connections with 421 4.7.0
/// while others are served, and a message that trickles in (slowloris) is cut by Smtp:DataTimeoutSeconds and
/// Smtp:MinDataRateBytesPerSecond long before the session timeout.
/// </summary>
public sealed class ClientLimitTests : IAsyncLifetime
{
    private static readonly IPAddress Greedy = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.3");
    private readonly DataFolder _data = new();
    private readonly CapturedLogs _logs = new();
    private WebApplication _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _app = await DetachHost.BuildAsync(_data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0",
            "Smtp:MaxConnections=100", "Smtp:MaxConnectionsPerClient=3", "Smtp:AuthorizedXforwardNetworks=127.0.0.1/32",
            "Smtp:DataTimeoutSeconds=1", "Smtp:MinDataRateBytesPerSecond=1000"), Ct, l => l.AddProvider(_logs));
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _data.Dispose();
    }

    private IPEndPoint Front => (IPEndPoint)_app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    [Fact]
    public async Task A_hundred_idle_connections_from_one_address_leave_room_for_another_client()
    {
        var idle = new List<(RawSmtpClient Client, RawSmtpReply Greeting)>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                var client = await RawSmtpClient.ConnectAsync(Front, readGreeting: false, from: Greedy);
                idle.Add((client, await client.ReadReplyAsync()));
            }

            Assert.Equal(3, idle.Count(c => c.Greeting.Code == 220));
            Assert.All(idle.Skip(3), c => Assert.StartsWith("421 4.7.0", c.Greeting.ToString(), StringComparison.Ordinal));

            await using var other = await RawSmtpClient.ConnectAsync(Front, from: Other);
            Assert.Equal(250, (await other.CommandAsync("EHLO other.example.test")).Code);
            Assert.Equal(250, (await other.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
            Assert.Equal(250, (await other.CommandAsync("RCPT TO:<bob@example.test>")).Code);
            Assert.Equal(354, (await other.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await other.SendDataAsync("Subject: served\r\n\r\nhello\r\n"u8.ToArray())).Code);

            // One line per refused connection, without a stack trace.
            var refusals = _logs.Lines.Where(l => l.Contains("127.0.0.2", StringComparison.Ordinal) && l.Contains("refused", StringComparison.Ordinal)).ToList();
            Assert.Equal(97, refusals.Count);
            Assert.All(refusals, l => Assert.EndsWith("| ", l, StringComparison.Ordinal));
        }
        finally
        {
            foreach (var (client, _) in idle)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_message_that_trickles_in_is_cut_and_a_fast_one_under_the_same_limits_is_delivered()
    {
        await using var slow = await RawSmtpClient.ConnectAsync(Front, from: Other);
        foreach (var command in new[] { "HELO slow.example.test", "MAIL FROM:<ann@example.com>", "RCPT TO:<bob@example.test>", "DATA" })
        {
            Assert.True((await slow.CommandAsync(command)).Code is 250 or 354);
        }

        // One byte every 200 ms: each read comes well within the 1 s timeout, but the rate is 5 bytes a second.
        var reply = slow.ReadReplyAsync();
        for (var i = 0; i < 100 && !reply.IsCompleted; i++)
        {
            try
            {
                await slow.SendAsync("x"u8.ToArray());
            }
            catch (IOException)
            {
                // Closed by the server: its reply is waiting to be read.
            }

            await Task.Delay(200, Ct);
        }

        Assert.StartsWith("421 4.4.2", (await reply).ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.Exists(Path.Combine(_data.Path, "maildir", "new")) ? Directory.GetFiles(Path.Combine(_data.Path, "maildir", "new")) : []);

        await using var fast = await RawSmtpClient.ConnectAsync(Front, from: Other);
        await fast.CommandAsync("EHLO fast.example.test");
        await fast.CommandAsync("MAIL FROM:<ann@example.com>");
        await fast.CommandAsync("RCPT TO:<bob@example.test>");
        Assert.Equal(354, (await fast.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await fast.SendDataAsync(DataFolder.MessageWith(DataFolder.RandomBytes(200_000, 3)))).Code);
    }
}
