using System.Collections.Concurrent;

namespace Detach.Smtp.Tests;

/// <summary>
/// With <see cref="SmtpServerOptions.InlineCompletions"/> the backend is called on the runtime's socket event thread
/// when a client's command arrives while the session waits for it; without it, always on a pool thread. (Which thread
/// handles a command that was already there when the session asked for it is a race, so the test sends several.)
/// </summary>
public class InlineCompletionsTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Backend_calls_run_on_the_event_thread_only_when_asked(bool inline)
    {
        var threads = new ConcurrentQueue<bool>();
        var backend = new TestBackend
        {
            OnRcpt = _ =>
            {
                threads.Enqueue(Thread.CurrentThread.IsThreadPoolThread);
                return new SmtpReply(250, "2.1.5", "Ok");
            },
        };
        await using ServerHost host = ServerHost.Start(backend, o => o.InlineCompletions = inline);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Equal(250, (await client.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@b>")).Code);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(250, (await client.CommandAsync($"RCPT TO:<r{i}@x>")).Code);
        }

        Assert.Equal(8, threads.Count);
        if (inline)
        {
            Assert.Contains(false, threads);
        }
        else
        {
            Assert.All(threads, Assert.True);
        }
    }

    [Fact]
    public async Task The_relay_client_continues_on_the_event_thread_when_asked()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        var options = new SmtpRelayClientOptions { ClientName = "relay.test", InlineCompletions = true };
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, options, TestContext.Current.CancellationToken);
        // Outside the test framework's synchronisation context, a continuation runs where the reply completed it.
        List<bool> onPool = await Task.Run(async () =>
        {
            var seen = new List<bool>();
            for (int i = 0; i < 8; i++)
            {
                await client.NoopAsync(TestContext.Current.CancellationToken);
                seen.Add(Thread.CurrentThread.IsThreadPoolThread);
            }

            return seen;
        });

        Assert.Contains(false, onPool);
    }
}
