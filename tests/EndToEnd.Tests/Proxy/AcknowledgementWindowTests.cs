using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// The acknowledgement window: the after-filter smtpd has stored the message, and its "250 queued as" never
/// reaches detach, because the connection dies or because detach itself is killed. Whether a copy was delivered
/// is unknowable to detach, so a delivered copy's links must keep working: `vault gc` past the orphan age must
/// not collect them. The sender's retry delivers a second copy, which must work too (duplicates in this window
/// are inherent to SMTP; a dead link is not).
/// </summary>
public sealed class AcknowledgementWindowTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-ack-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    /// <summary>
    /// A relay that cuts the connection in place of the first "queued as" reply, after running <paramref name="before"/>;
    /// <paramref name="cut"/> completes once it has.
    /// </summary>
    private static RecordingTcpRelay CutAtFirstVerdict(out Task cut, Func<Task>? before = null)
    {
        var relay = new RecordingTcpRelay();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = 0;
        relay.ForwardToClient = async reply =>
        {
            if (!reply.Contains("queued as", StringComparison.Ordinal) || Interlocked.Exchange(ref first, 1) == 1)
            {
                return true;
            }

            if (before is not null)
            {
                await before();
            }

            done.SetResult();
            return false;
        };
        cut = done.Task;
        return relay;
    }

    [Fact]
    public async Task A_next_hop_that_stores_the_message_and_hangs_up_before_replying_leaves_links_that_survive_gc()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var relay = CutAtFirstVerdict(out _);
        await using var proxy = await PostfixWithDetach.StartAsync(Token, nextHopRelay: relay);
        var file = TestFiles.WriteRandom(_scratch.FullName, "minutes.pdf", 300 * 1024);
        var messageId = TestFiles.NewMessageId("hang-up-after-store");
        Swaks Send() => proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Attach(file);

        var first = await Send().RunAsync(Token);
        Assert.True(Assert.Single(first.DataReplies).Code is >= 400 and < 500, first.ToString());
        var retried = await Send().RunAsync(Token);
        Assert.True(retried.ExitCode == 0, retried.ToString());
        var copies = await proxy.WaitForCopiesAsync("alice", messageId, Token);
        Assert.Equal(2, copies.Count);

        var gc = await DetachProcess.RunAsync(["vault", "gc", "--orphan-age", "0"], [$"DataPath={proxy.Detach.DataDirectory}"], Token);
        Assert.True(gc.Succeeded, gc.ToString());

        foreach (var copy in copies)
        {
            Assert.Equal(TestFiles.Sha256(file), await proxy.Detach.FetchSha256Async(Assert.Single(copy.Links), Token));
        }

        // The operator can tell which message may be a duplicate.
        Assert.Contains(" (queue ", await proxy.Detach.WaitForLogAsync("may have been delivered", Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Detach_killed_between_the_next_hops_250_and_its_own_bookkeeping_leaves_links_that_survive_gc()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        var ports = FreePort.Next(2);
        var (smtpPort, httpPort) = (ports[0], ports[1]);
        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.WithFilter(smtpPort) with { Mailboxes = ["alice"] }, Token);
        DetachProcess? detach = null;
        await using var relay = CutAtFirstVerdict(out var killed, () => detach!.KillAsync());
        relay.TargetPort = postfix.ReinjectPort;
        var data = _scratch.CreateSubdirectory("data").FullName;
        string[] settings = [.. DetachProcess.Settings(data, smtpPort, httpPort), $"Smtp:NextHop=smtp://127.0.0.1:{relay.Port}"];
        var file = TestFiles.WriteRandom(_scratch.FullName, "budget.xlsx", 300 * 1024);
        var messageId = TestFiles.NewMessageId("killed-after-relay");
        Swaks Send() => new Swaks(postfix.InboundPort).From("sender@example.test").To(PostfixInstance.Address("alice"))
            .Header("Message-Id", messageId).Attach(file);

        try
        {
            detach = await DetachProcess.StartAsync(settings, Token);
            var first = await Send().RunAsync(Token);
            Assert.True(Assert.Single(first.DataReplies).Code is >= 400 and < 500, first.ToString());
            await postfix.WaitForMailAsync("alice", 1, PostfixWithDetach.Patience, Token);
            await killed.WaitAsync(Token);
            await detach.DisposeAsync();
            detach = null;

            // Restarted on the same data folder, detach takes the sender's retry.
            detach = await DetachProcess.StartAsync(settings, Token);
            var retried = await Send().RunAsync(Token);
            Assert.True(retried.ExitCode == 0, retried.ToString() + detach.Output);
            var delivered = await postfix.WaitForMailAsync("alice", 2, PostfixWithDetach.Patience, Token);

            var gc = await DetachProcess.RunAsync(["vault", "gc", "--orphan-age", "0"], settings, Token);
            Assert.True(gc.Succeeded, gc.ToString());

            foreach (var path in delivered)
            {
                var link = Assert.Single((await DeliveredMail.ReadAsync(path, Token)).Links);
                var fetched = Path.Combine(_scratch.FullName, "fetched-" + Path.GetFileName(path));
                var fetch = await DetachProcess.RunAsync(["fetch", link, "-o", fetched], settings, Token);
                Assert.True(fetch.Succeeded, fetch.ToString());
                Assert.Equal(TestFiles.Sha256(file), TestFiles.Sha256(fetched));
            }
        }
        finally
        {
            if (detach is not null)
            {
                await detach.DisposeAsync();
            }
        }
    }
}
