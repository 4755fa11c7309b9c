using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Vault.Storage;
using IpfsNodeFixture = Detach.Vault.Tests.Storage.IpfsNodeFixture;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// Tests that stop the shared IPFS node or read process-wide counters: they run alone, after the parallel ones
/// (the /metrics exporter listens to every "Detach" meter in the process, so another host's mail would count).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialProxyCollection : ICollectionFixture<IpfsNodeFixture>
{
    public const string Name = "Proxy tests that own the IPFS node or the process's meters";
}

/// <summary>The IPFS node as store goes away while mail arrives through Postfix and detach.</summary>
[Collection(SerialProxyCollection.Name)]
public sealed class StorageOutageTests(IpfsNodeFixture node) : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-outage-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    private async Task<PostfixWithDetach> StartAsync(string whenNodeDown)
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        node.RequireNode();
        await node.EnsureRunningAsync();
        return await PostfixWithDetach.StartAsync(Token,
        [
            $"Vault:IpfsApiUrl={node.ApiUrl.AbsoluteUri.TrimEnd('/')}",
            $"Vault:WhenNodeDown={whenNodeDown}",
            "Vault:IpfsTimeoutSeconds=10",
        ]);
    }

    [Fact]
    public async Task With_TempFail_a_dead_node_makes_postfix_refuse_with_4xx_before_queueing_and_the_retry_is_delivered_once()
    {
        await using var proxy = await StartAsync("TempFail");
        var file = TestFiles.WriteRandom(_scratch.FullName, "contract.pdf", 512 * 1024);
        var messageId = TestFiles.NewMessageId("node-down-tempfail");
        Swaks Send() => proxy.Swaks()
            .To(PostfixInstance.Address("alice"), PostfixInstance.Address("bob"))
            .Header("Message-Id", messageId)
            .Attach(file);

        node.Kill();
        var refused = await Send().RunAsync(Token);

        var reply = Assert.Single(refused.DataReplies);
        Assert.True(reply.Code is >= 400 and < 500, refused.ToString());
        Assert.NotEqual(0, refused.ExitCode);
        await proxy.Postfix.WaitForLogAsync("proxy-reject: END-OF-MESSAGE: 451", PostfixWithDetach.Patience, Token);
        Assert.True(await proxy.Postfix.QueueIsEmptyAsync(Token), "before-queue: a refused message is never queued");
        Assert.Empty(proxy.Postfix.MessagesIn("alice"));
        Assert.Empty(proxy.Postfix.MessagesIn("bob"));
        Assert.Empty(proxy.Postfix.MessagesIn("sender"));
        var metrics = await proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Equal(1, metrics.Value("detach_messages_tempfailed_total"));
        Assert.Equal(0, metrics.Value("detach_messages_processed_total"));
        Assert.Equal(0, metrics.Value("detach_attachments_detached_total"));
        Assert.Equal(1, metrics.Value("detach_ipfs_node_skipped"));

        // The sender retries later, as a client does; the first pause after a failure leaves the node alone.
        await node.StartAsync();
        await Task.Delay(NodeCircuit.FirstPause, Token);
        var retried = await Send().RunAsync(Token);

        Assert.True(retried.ExitCode == 0, retried.ToString());
        foreach (var mailbox in new[] { "alice", "bob" })
        {
            var mail = Assert.Single(await proxy.WaitForCopiesAsync(mailbox, messageId, Token));
            Assert.Equal(TestFiles.Sha256(file), await proxy.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        }

        Assert.Empty(proxy.Postfix.MessagesIn("sender"));
        metrics = await proxy.Detach.ScrapeMetricsAsync(Token);
        Assert.Equal(1, metrics.Value("detach_messages_tempfailed_total"));
        Assert.Equal(1, metrics.Value("detach_messages_processed_total"));
        Assert.Equal(0, metrics.Value("detach_ipfs_node_skipped"));
        Assert.Equal(1, metrics.Value("detach_attachments_detached_total"));
        Assert.Equal(512 * 1024, metrics.Value("detach_detached_bytes_total"));
        Assert.Equal(512 * 1024, metrics.Value("detach_saved_bytes_total"));
    }

    [Fact]
    public async Task With_Spool_a_dead_node_still_accepts_the_link_works_from_the_spool_and_the_push_pins_it_later()
    {
        await using var proxy = await StartAsync("Spool");
        var file = TestFiles.WriteRandom(_scratch.FullName, "photos.zip", 2 * 1024 * 1024);
        var messageId = TestFiles.NewMessageId("node-down-spool");

        node.Kill();
        var result = await proxy.Swaks()
            .To(PostfixInstance.Address("carol"))
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await proxy.WaitForCopiesAsync("carol", messageId, Token));
        var link = Assert.Single(mail.Links);
        Assert.Equal(TestFiles.Sha256(file), await proxy.Detach.FetchSha256Async(link, Token));
        var record = Assert.Single(await proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        var cid = Cid.Parse(record.Cid);
        Assert.True(await proxy.Detach.Vault.Local.ContainsAsync(cid, Token), "the object waits in the spool");

        await node.StartAsync();
        var pushed = await proxy.Detach.Vault.Spool!.PushPendingAsync(Token);

        Assert.Equal(1, pushed);
        Assert.False(await proxy.Detach.Vault.Local.ContainsAsync(cid, Token), "pushed objects leave the spool");
        var kubo = node.CreateClient();
        Assert.Contains(await kubo.PinLsAsync(cid, Token), p => p.Cid == cid);
        Assert.Equal(TestFiles.Sha256(file), await proxy.Detach.FetchSha256Async(link, Token));
    }
}
