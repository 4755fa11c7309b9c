using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// The SMTP front runs session code on the runtime's socket event thread (inline completions), and moves what
/// blocks or computes for long to the thread pool: a plain message is looked at where it arrived, a message with an
/// attachment is stored from a pool thread. Each log line says on which kind of thread it was written.
/// </summary>
public sealed class InlineCompletionsTests : IAsyncLifetime
{
    private readonly DataFolder data = new();
    private readonly ThreadRecordingLogs logs = new();
    private WebApplication? app;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    private async Task StartAsync(params string[] settings)
    {
        app = await DetachHost.BuildAsync(data.Settings(["Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0", .. settings]), Ct,
            logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        await app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }

        data.Dispose();
    }

    /// <summary>Five plain messages and one with an attachment, in one session.</summary>
    private async Task SendMailAsync()
    {
        await using var smtp = await SmtpDialog.ConnectAsync(SmtpEndPoint);
        await smtp.SendAsync("EHLO client.example.test");
        var plain = Encoding.ASCII.GetBytes("Subject: plain\r\n\r\nJust text.\r\n");
        foreach (var message in new[] { plain, plain, plain, plain, plain, DataFolder.MessageWith(DataFolder.RandomBytes(50_000, 3)) })
        {
            Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
            Assert.StartsWith("354", await smtp.SendAsync("DATA"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendDataAsync(message), StringComparison.Ordinal);
        }
    }

    private IPEndPoint SmtpEndPoint => (IPEndPoint)app!.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    /// <summary>
    /// Where a command is handled depends on a race: when the client's bytes are already there as the session asks
    /// for them, the read completes on the asking (pool) thread. Of several plain messages, at least one is looked at
    /// on the event thread; the attachment is never stored from it.
    /// </summary>
    [Fact]
    public async Task Plain_mail_is_handled_on_the_event_thread_and_attachments_are_stored_from_the_pool()
    {
        await StartAsync();
        await SendMailAsync();

        Assert.Contains("event thread", logs.ThreadsOf("nothing to detach"));
        Assert.Equal(["pool"], logs.ThreadsOf("attachment(s) detached"));
    }

    /// <summary>
    /// The fallback, should the runtime's knob misbehave (or be gone: the front then gets the same as here): with
    /// Smtp:InlineCompletions off, no session code runs on the event thread and mail flows as before.
    /// </summary>
    [Fact]
    public async Task Switched_off_sessions_run_on_the_pool_and_mail_flows_the_same()
    {
        await StartAsync("Smtp:InlineCompletions=false");
        await SendMailAsync();

        Assert.Equal(["pool", "pool", "pool", "pool", "pool"], logs.ThreadsOf("nothing to detach"));
        Assert.Equal(["pool"], logs.ThreadsOf("attachment(s) detached"));
    }

    [Fact]
    public async Task The_hop_continues_on_the_pool_and_costs_nothing_there()
    {
        var seen = new TaskCompletionSource<(bool Before, bool After)>();
        var thread = new Thread(() => _ = HopAsync(seen)) { Name = "not a pool thread" };
        thread.Start();
        Assert.Equal((false, true), await seen.Task.WaitAsync(Ct));

        await Task.Run(() => Assert.True(ThreadPoolHop.Now.IsCompleted), Ct);
    }

    private static async Task HopAsync(TaskCompletionSource<(bool, bool)> seen)
    {
        bool before = Thread.CurrentThread.IsThreadPoolThread;
        await ThreadPoolHop.Now;
        seen.SetResult((before, Thread.CurrentThread.IsThreadPoolThread));
    }

    private sealed class ThreadRecordingLogs : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<(string Message, string Thread)> lines = new();

        public IReadOnlyList<string> ThreadsOf(string fragment) =>
            [.. lines.Where(l => l.Message.Contains(fragment, StringComparison.Ordinal)).Select(l => l.Thread)];

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue((formatter(state, exception), Thread.CurrentThread.IsThreadPoolThread ? "pool"
                : Thread.CurrentThread.Name == ".NET Sockets" ? "event thread" : Thread.CurrentThread.Name ?? "unnamed"));

        public void Dispose()
        {
        }
    }
}
