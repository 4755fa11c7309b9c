using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// Next-hop connections outlive the client session that opened them, one session at a time: consecutive
/// sessions share one downstream connection, one the next hop closed meanwhile is replaced transparently, and one
/// left in the middle of a transaction is closed rather than reset.
/// </summary>
public sealed class NextHopPoolTests : IAsyncLifetime
{
    private readonly DataFolder data = new();
    private readonly RecordingNextHop recorder = new();
    private SmtpServer nextHop = null!;
    private WebApplication app = null!;
    private int nextHopPort;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        nextHop = StartNextHop(0);
        nextHopPort = ((IPEndPoint)nextHop.LocalEndPoints[0]).Port;
        app = await DetachHost.BuildAsync(data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0",
            $"Smtp:NextHop=smtp://127.0.0.1:{nextHopPort}"), Ct);
        await app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
        await nextHop.DisposeAsync();
        data.Dispose();
    }

    private SmtpServer StartNextHop(int port)
    {
        var options = new SmtpServerOptions { ServerName = "after-filter.test" };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, port));
        var server = new SmtpServer(options, recorder);
        server.Start();
        _ = server.RunAsync(CancellationToken.None);
        return server;
    }

    private IPEndPoint Front => (IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    private async Task SendAsync(string subject)
    {
        await using var smtp = await SmtpDialog.ConnectAsync(Front);
        await smtp.SendAsync("EHLO client.example.test");
        Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await smtp.SendAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.SendDataAsync(Encoding.ASCII.GetBytes($"Subject: {subject}\r\n\r\nhello\r\n")), StringComparison.Ordinal);
        await smtp.SendAsync("QUIT");
    }

    /// <summary>The client's QUIT is answered before detach has parked the next-hop connection.</summary>
    private async Task WaitUntilParkedAsync()
    {
        var backend = app.Services.GetRequiredService<DetachingBackend>();
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        patience.CancelAfter(TimeSpan.FromSeconds(30));
        while (backend.IdleNextHopConnections == 0)
        {
            await Task.Delay(10, patience.Token);
        }
    }

    [Fact]
    public async Task Consecutive_sessions_share_one_next_hop_connection_and_a_closed_one_is_replaced()
    {
        await SendAsync("first");
        await WaitUntilParkedAsync();
        await SendAsync("second");
        Assert.Equal(["first", "second"], recorder.Subjects);
        Assert.Equal(1, recorder.SessionCount);

        // The next hop restarts while the connection is parked: it is dead, and the next session must not notice.
        await WaitUntilParkedAsync();
        await nextHop.DisposeAsync();
        nextHop = StartNextHop(nextHopPort);
        await SendAsync("third");
        Assert.Equal(["first", "second", "third"], recorder.Subjects);
        Assert.Equal(2, recorder.SessionCount);
    }

    /// <summary>
    /// A transaction the client abandons must not stay open downstream (the next hop would answer a nested MAIL with
    /// 503), and is not ended with RSET either: the after-filter smtpd counts RSETs as junk commands until mail is
    /// delivered (see FailureStormTests). Its connection is closed instead; the session's next transaction and the
    /// next session each get a fresh one, and only a connection between transactions is parked.
    /// </summary>
    [Fact]
    public async Task Abandoned_transactions_close_their_next_hop_connection_instead_of_resetting_it()
    {
        await using (var smtp = await SmtpDialog.ConnectAsync(Front))
        {
            await smtp.SendAsync("EHLO client.example.test");
            Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RSET"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
            Assert.StartsWith("354", await smtp.SendAsync("DATA"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendDataAsync("Subject: after reset\r\n\r\nhello\r\n"u8.ToArray()), StringComparison.Ordinal);

            Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
            await smtp.SendAsync("QUIT");
        }

        using (var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            patience.CancelAfter(TimeSpan.FromSeconds(30));
            while (recorder.AbandonedTransactions < 2)
            {
                await Task.Delay(10, patience.Token);
            }
        }

        Assert.Equal(0, app.Services.GetRequiredService<DetachingBackend>().IdleNextHopConnections);
        await SendAsync("next session");
        Assert.Equal(["after reset", "next session"], recorder.Subjects);
        Assert.Equal(3, recorder.SessionCount);
    }

    private sealed class RecordingNextHop : ISmtpBackend
    {
        private int sessions;
        private int abandoned;

        public ConcurrentQueue<string> SubjectQueue { get; } = new();

        public IReadOnlyList<string> Subjects => [.. SubjectQueue];

        public int SessionCount => Volatile.Read(ref sessions);

        /// <summary>Transactions that ended without a message (RSET, or the connection closing).</summary>
        public int AbandonedTransactions => Volatile.Read(ref abandoned);

        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref sessions);
            return ValueTask.FromResult<ISmtpSessionHandler>(new Handler(this));
        }

        private sealed class Handler(RecordingNextHop owner) : ISmtpSessionHandler
        {
            public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken) =>
                ValueTask.FromResult(MailResult.Accept(new Transaction(owner)));

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }

        private sealed class Transaction(RecordingNextHop owner) : ISmtpTransaction
        {
            private bool delivered;

            public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
                ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Ok"));

            public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
            {
                using var reader = new StreamReader(message, Encoding.ASCII);
                var text = await reader.ReadToEndAsync(cancellationToken);
                owner.SubjectQueue.Enqueue(text.Split("\r\n").First(l => l.StartsWith("Subject: ", StringComparison.Ordinal))["Subject: ".Length..]);
                delivered = true;
                return new SmtpReply(250, "2.0.0", "Ok: queued");
            }

            public ValueTask DisposeAsync()
            {
                if (!delivered)
                {
                    Interlocked.Increment(ref owner.abandoned);
                }

                return ValueTask.CompletedTask;
            }
        }
    }
}
