using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Detach.Vault;
using Detach.Vault.Storage;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// The socket-event-thread rule, enforced: in the test projects (Directory.Build.props switches the guard on) the
/// vault, the stores, the index and the spool file throw when called on the runtime's socket event thread, so a new
/// call site that forgets its <see cref="ThreadPoolHop"/> fails here and in every test that drives the SMTP front,
/// instead of stalling every session in production. The calls run as the continuation of a socket receive that the
/// event thread completes inline, as the SMTP front's session code does.
/// </summary>
public sealed class EventThreadGuardTests : IDisposable
{
    private readonly DataFolder data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => data.Dispose();

    [Fact]
    public void The_guard_is_on_in_the_tests()
    {
        Assert.True(EventThreadGuard.IsEnabled, $"AppContext switch {EventThreadGuard.SwitchName} is not set for the test projects");
    }

    [Fact]
    public async Task Vault_store_and_index_calls_fail_on_the_socket_event_thread()
    {
        await using var vault = await VaultComponents.OpenAsync(data.Settings(), Ct);
        var cid = Cid.Compute(Cid.RawCodec, RandomNumberGenerator.GetBytes(32));
        Func<Task>[] calls =
        [
            () => vault.Index.FindByCidAsync(cid.ToString(), Ct),
            () => vault.Store.GetSizeAsync(cid, Ct),
            () => vault.Store.AddAsync(new MemoryStream([1, 2, 3]), Ct),
            () => vault.Vault.RevokeAsync(cid.ToString(), "test", Ct),
            () => vault.Vault.BeginMessage(new MessageContext("<m@example.com>", "example.com", 1))
                .StoreAsync(new AttachmentFile("a.pdf", "application/pdf"), new MemoryStream(new byte[5000]), Ct),
        ];

        foreach (var call in calls)
        {
            var (thread, failure) = await OnSocketEventThread.RunAsync(call);
            Assert.Equal(EventThreadGuard.EventThreadName, thread);
            Assert.IsType<EventThreadBlockedException>(failure);
        }
    }

    [Fact]
    public async Task After_a_hop_to_the_pool_the_same_calls_run()
    {
        await using var vault = await VaultComponents.OpenAsync(data.Settings(), Ct);
        var (thread, failure) = await OnSocketEventThread.RunAsync(async () =>
        {
            await ThreadPoolHop.Now;
            await using var message = vault.Vault.BeginMessage(new MessageContext("<m@example.com>", "example.com", 1));
            await message.StoreAsync(new AttachmentFile("a.pdf", "application/pdf"), new MemoryStream(new byte[5000]), Ct);
            await message.CommitAsync(Ct);
        });

        Assert.Equal(EventThreadGuard.EventThreadName, thread);
        Assert.Null(failure);
    }

    /// <summary>A message past the spool's memory threshold arrives on the event thread: the file I/O must hop.</summary>
    [Fact]
    public async Task A_spool_moving_to_disk_is_written_and_read_off_the_event_thread()
    {
        var content = RandomNumberGenerator.GetBytes(64 * 1024);
        await using var spool = new SpillStream(data.Path, threshold: 16 * 1024);
        var copy = new byte[content.Length];
        var (thread, failure) = await OnSocketEventThread.RunAsync(async () =>
        {
            for (var at = 0; at < content.Length; at += 4096)
            {
                await spool.WriteAsync(content.AsMemory(at, 4096), Ct);
            }

            spool.Position = 0;
            await spool.ReadExactlyAsync(copy, Ct);
        });

        Assert.Equal(EventThreadGuard.EventThreadName, thread);
        Assert.Null(failure);
        Assert.True(spool.IsSpilled);
        Assert.Equal(content, copy);

        // The synchronous path has no hop to take: it is the guard that stops it.
        (_, failure) = await OnSocketEventThread.RunAsync(() =>
        {
            spool.Write(content);
            return Task.CompletedTask;
        });
        Assert.IsType<EventThreadBlockedException>(failure);
    }

    /// <summary>
    /// Runs code where the SMTP front runs session code: as the continuation of a socket receive that the runtime's
    /// event thread completes inline (the same per-socket knob as Detach.Smtp's InlineCompletions). A runtime without
    /// the knob skips, as the SMTP front then falls back to the pool (tests/Smtp.Tests/InlineCompletionsTests).
    /// </summary>
    private static class OnSocketEventThread
    {
        [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_PreferInlineCompletions")]
        private static extern void SetPreferInlineCompletions(Socket socket, bool value);

        /// <summary>The thread <paramref name="action"/> started on, and what it threw (null if nothing).</summary>
        public static async Task<(string? Thread, Exception? Failure)> RunAsync(Func<Task> action)
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen();
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(listener.LocalEndPoint!, Ct);
            using var server = await listener.AcceptAsync(Ct);
            try
            {
                SetPreferInlineCompletions(server, true);
            }
            catch (MissingMethodException)
            {
                Assert.Skip("This runtime has no per-socket inline completions; the SMTP front uses the thread pool.");
            }

            // Set from the event thread; the caller continues on the pool, not there (a test run on it would trip the guard).
            var ran = new TaskCompletionSource<(string?, Exception?)>(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = ReceiveThenRunAsync(server, action, ran);
            await client.SendAsync(new byte[] { 1 }, SocketFlags.None, Ct);
            return await ran.Task;
        }

        private static async Task ReceiveThenRunAsync(Socket socket, Func<Task> action, TaskCompletionSource<(string?, Exception?)> ran)
        {
            await socket.ReceiveAsync(new byte[1], SocketFlags.None, Ct).ConfigureAwait(false);
            var thread = Thread.CurrentThread.Name;
            try
            {
                await action().ConfigureAwait(false);
                ran.SetResult((thread, null));
            }
            catch (Exception e)
            {
                ran.SetResult((thread, e));
            }
        }
    }
}
