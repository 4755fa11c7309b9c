using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Vault;
using Detach.Vault.Index;
using Detach.Vault.Storage;

namespace Detach.EndToEnd.Tests.Scale;

/// <summary>
/// Two `detach serve` processes behind one Postfix, sharing a PostgreSQL index, a js-ipfs node and a gateway secret:
/// what one instance stores, the other serves; what one revokes, the other refuses at once; gc run on both collects
/// each object once; a spool left on one while the node was down reaches the node while the other keeps serving.
/// </summary>
public sealed partial class TwoInstancesTests(TwoInstancesSetup setup) : IClassFixture<TwoInstancesSetup>, IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-scale-files-");
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(60) };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _http.Dispose();
        _scratch.Delete(recursive: true);
    }

    [Fact]
    public async Task Mail_through_A_downloads_from_B_and_a_download_opened_on_A_finishes_on_B()
    {
        var vault = await StartAsync();
        var file = TestFiles.WriteRandom(_scratch.FullName, "report.pdf", 300 * 1024);
        var (link, cid) = await SendAsync(vault, vault.A, "alice", "via-a", file);

        Assert.Contains(cid, vault.A.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(cid, vault.B.Output, StringComparison.Ordinal);
        using (var fromB = await vault.B.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.OK, fromB.StatusCode);
            Assert.Equal(TestFiles.Sha256(file), await Sha256Async(fromB));
        }

        // The page's metadata call lands on A, the download manager's GET on B: the token A sealed opens on B.
        var (meta, token) = await vault.A.OpenMetaAsync(_http, link, Token);
        using (meta)
        {
            Assert.Equal(HttpStatusCode.OK, meta.StatusCode);
        }

        Assert.NotNull(token);
        using (var finished = await vault.B.GetFileWithTokenAsync(_http, link, token, Token))
        {
            Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
            Assert.Equal(TestFiles.Sha256(file), await Sha256Async(finished));
        }

        // And the other way round.
        var other = TestFiles.WriteRandom(_scratch.FullName, "slides.odp", 70 * 1024);
        var (linkB, _) = await SendAsync(vault, vault.B, "bob", "via-b", other);
        using var fromA = await vault.A.GetFileAsync(_http, linkB, Token);
        Assert.Equal(HttpStatusCode.OK, fromA.StatusCode);
        Assert.Equal(TestFiles.Sha256(other), await Sha256Async(fromA));
    }

    [Fact]
    public async Task A_revoke_on_B_kills_the_link_on_A_at_once()
    {
        var vault = await StartAsync();
        var file = TestFiles.WriteRandom(_scratch.FullName, "contract.pdf", 200 * 1024);
        var messageId = TestFiles.NewMessageId("revoke");
        var (link, cid) = await SendAsync(vault, vault.A, "carol", messageId, file);

        // A has served it, and a browser holds A's download token: whatever A could have kept, it has now.
        using (var served = await vault.A.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        var (meta, token) = await vault.A.OpenMetaAsync(_http, link, Token);
        meta.Dispose();
        Assert.NotNull(token);

        var revoke = await vault.B.RunAsync(["vault", "revoke", messageId], Token);

        Assert.True(revoke.Succeeded, revoke.ToString());
        Assert.Contains($"revoked {cid}", revoke.StandardOutput, StringComparison.Ordinal);
        using (var withKey = await vault.A.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.Gone, withKey.StatusCode);
        }

        using (var withToken = await vault.A.GetFileWithTokenAsync(_http, link, token, Token))
        {
            Assert.Equal(HttpStatusCode.Gone, withToken.StatusCode);
        }

        var (metaAfter, _) = await vault.A.OpenMetaAsync(_http, link, Token);
        using (metaAfter)
        {
            Assert.Equal(HttpStatusCode.Gone, metaAfter.StatusCode);
        }

        using (var onB = await vault.B.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.Gone, onB.StatusCode);
        }

        Assert.Empty(await vault.Node.CreateClient().PinLsAsync(Cid.Parse(cid), Token));
    }

    [Fact]
    public async Task Vault_gc_run_on_both_at_once_collects_each_expired_object_and_each_orphan_exactly_once()
    {
        var vault = await StartAsync();

        // Objects from both instances (through Postfix) and many more from a third party on the same vault.
        var expiring = new List<string>
        {
            (await SendAsync(vault, vault.A, "alice", "gc-a", TestFiles.WriteRandom(_scratch.FullName, "a.bin", 20 * 1024))).Cid,
            (await SendAsync(vault, vault.B, "bob", "gc-b", TestFiles.WriteRandom(_scratch.FullName, "b.bin", 20 * 1024))).Cid,
        };
        var orphans = new List<string>();
        await using (var third = await vault.OpenVaultAsync(Token))
        {
            for (var i = 0; i < 60; i++)
            {
                await using var message = third.Vault.BeginMessage(new MessageContext(TestFiles.NewMessageId("gc-bulk"), "example.test", 1));
                var stored = await message.StoreAsync(new AttachmentFile($"bulk-{i}.bin", "application/octet-stream"),
                    new MemoryStream(RandomNumberGenerator.GetBytes(6000)), Token);
                if (i % 6 == 0)
                {
                    orphans.Add(stored.Record.Cid); // never committed: disposing marks it orphaned
                }
                else
                {
                    await message.CommitAsync(Token);
                    expiring.Add(stored.Record.Cid);
                }
            }
        }

        // Time passes: retention for some, an hour since the failed messages for the others.
        Assert.Equal(expiring.Count, await vault.ExecuteSqlAsync(
            "UPDATE attachments SET expires_at = now() - interval '1 minute' WHERE cid = ANY(@cids)", p => p.AddWithValue("cids", expiring.ToArray()), Token));
        Assert.Equal(orphans.Count, await vault.ExecuteSqlAsync(
            "UPDATE attachments SET created_at = now() - interval '2 hours' WHERE cid = ANY(@cids)", p => p.AddWithValue("cids", orphans.ToArray()), Token));

        // Each gc talks to the node through a relay that records its calls, so unpins can be counted.
        await using var relayA = new RecordingTcpRelay(vault.Node.Port);
        await using var relayB = new RecordingTcpRelay(vault.Node.Port);
        await using var gcA = vault.A.Start(["vault", "gc"], [$"Vault:IpfsApiUrl=http://127.0.0.1:{relayA.Port}"]);
        await using var gcB = vault.B.Start(["vault", "gc"], [$"Vault:IpfsApiUrl=http://127.0.0.1:{relayB.Port}"]);
        var resultA = await gcA.WaitForExitAsync(TwoInstances.Patience, Token);
        var resultB = await gcB.WaitForExitAsync(TwoInstances.Patience, Token);

        Assert.True(resultA.Succeeded && resultA.StandardError.Length == 0, resultA.ToString());
        Assert.True(resultB.Succeeded && resultB.StandardError.Length == 0, resultB.ToString());
        var (expiredA, orphansA) = GcCounts(resultA);
        var (expiredB, orphansB) = GcCounts(resultB);
        Assert.Equal(expiring.Count, expiredA + expiredB);
        Assert.Equal(orphans.Count, orphansA + orphansB);

        var unpins = relayA.Connections.Concat(relayB.Connections)
            .SelectMany(c => PinRm().Matches(c.ClientToServer).Select(m => m.Groups["cid"].Value))
            .GroupBy(c => c)
            .ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(expiring.Concat(orphans).Order(), unpins.Keys.Order());
        Assert.All(unpins, u => Assert.Equal(1, u.Value));

        var kubo = vault.Node.CreateClient();
        await using var index = await vault.OpenVaultAsync(Token);
        foreach (var cid in expiring.Concat(orphans))
        {
            Assert.Empty(await kubo.PinLsAsync(Cid.Parse(cid), Token));
            var record = await index.Index.FindByCidAsync(cid, Token);
            Assert.NotNull(record);
            Assert.True(record.IsShredded, $"{cid} still has its key share");
            Assert.Equal(orphans.Contains(cid) ? RevocationReasons.Orphaned : RevocationReasons.Expired, record.RevokedReason);
        }
    }

    [Fact]
    public async Task A_spool_left_on_A_while_the_node_was_down_is_pushed_when_it_is_back_while_B_serves_and_unpins_wait_for_the_node()
    {
        var vault = await StartAsync();
        var spooled = TestFiles.WriteRandom(_scratch.FullName, "photos.zip", 1024 * 1024);
        var fromB = TestFiles.WriteRandom(_scratch.FullName, "minutes.odt", 40 * 1024);
        var revoked = TestFiles.WriteRandom(_scratch.FullName, "draft.pdf", 40 * 1024);
        var revokedId = TestFiles.NewMessageId("spool-revoked");

        var pinnedId = TestFiles.NewMessageId("pinned-before");
        var (_, pinnedCid) = await SendAsync(vault, vault.A, "alice", pinnedId, TestFiles.WriteRandom(_scratch.FullName, "old.pdf", 20 * 1024));

        vault.Node.Kill();
        var (link, cid) = await SendAsync(vault, vault.A, "alice", "spool-a", spooled);
        var (linkB, cidB) = await SendAsync(vault, vault.B, "bob", "spool-b", fromB);
        var (_, revokedCid) = await SendAsync(vault, vault.A, "carol", revokedId, revoked);

        var spoolA = new LocalContentStore(Path.Combine(vault.A.DataPath, "spool"));
        Assert.True(await spoolA.ContainsAsync(Cid.Parse(cid), Token), "A keeps what the node could not take");
        Assert.True(await spoolA.ContainsAsync(Cid.Parse(revokedCid), Token));
        using (var onA = await vault.A.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.OK, onA.StatusCode);
            Assert.Equal(TestFiles.Sha256(spooled), await Sha256Async(onA));
        }

        // Until A pushes, only A has the bytes: B answers 503 (try again), never a wrong file.
        using (var onB = await vault.B.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, onB.StatusCode);
        }

        // Revoked through B while its object sits in A's spool: it must not reach the node later. And one revoked
        // while pinned on the dead node: its unpin waits for the node instead of being forgotten.
        foreach (var target in new[] { revokedId, pinnedId })
        {
            var revoke = await vault.B.RunAsync(["vault", "revoke", target], Token);
            Assert.True(revoke.Succeeded, revoke.ToString());
        }

        await vault.Node.StartAsync();
        await using var gcA = vault.A.Start(["vault", "gc"]);
        var (afterId, after) = (TestFiles.NewMessageId("while-pushing"), TestFiles.WriteRandom(_scratch.FullName, "later.pdf", 30 * 1024));
        var whilePushing = SendAsync(vault, vault.B, "bob", afterId, after);
        using (var servedByB = await vault.B.GetFileAsync(_http, linkB, Token))
        {
            Assert.Equal(HttpStatusCode.OK, servedByB.StatusCode);
            Assert.Equal(TestFiles.Sha256(fromB), await Sha256Async(servedByB));
        }

        var pushed = await gcA.WaitForExitAsync(TwoInstances.Patience, Token);
        var (linkAfter, _) = await whilePushing;

        Assert.True(pushed.Succeeded, pushed.ToString());
        Assert.Contains("spooled objects pushed 1", pushed.StandardOutput, StringComparison.Ordinal);
        Assert.False(await spoolA.ContainsAsync(Cid.Parse(cid), Token), "pushed objects leave A's spool");
        Assert.False(await spoolA.ContainsAsync(Cid.Parse(revokedCid), Token), "a revoked object leaves A's spool too");
        var kubo = vault.Node.CreateClient();
        Assert.NotEmpty(await kubo.PinLsAsync(Cid.Parse(cid), Token));
        Assert.Empty(await kubo.PinLsAsync(Cid.Parse(revokedCid), Token));
        using (var nowOnB = await vault.B.GetFileAsync(_http, link, Token))
        {
            Assert.Equal(HttpStatusCode.OK, nowOnB.StatusCode);
            Assert.Equal(TestFiles.Sha256(spooled), await Sha256Async(nowOnB));
        }

        using (var afterOnA = await vault.A.GetFileAsync(_http, linkAfter, Token))
        {
            Assert.Equal(HttpStatusCode.OK, afterOnA.StatusCode);
            Assert.Equal(TestFiles.Sha256(after), await Sha256Async(afterOnA));
        }

        // B's own spool goes the same way, and the unpin it could not do.
        Assert.NotEmpty(await kubo.PinLsAsync(Cid.Parse(pinnedCid), Token));
        var pushedB = await vault.B.RunAsync(["vault", "gc"], Token);
        Assert.Contains("spooled objects pushed 1", pushedB.StandardOutput, StringComparison.Ordinal);
        Assert.NotEmpty(await kubo.PinLsAsync(Cid.Parse(cidB), Token));
        Assert.Empty(await kubo.PinLsAsync(Cid.Parse(pinnedCid), Token));
    }

    private async Task<TwoInstances> StartAsync()
    {
        TwoInstances.RequirePeers();
        var vault = await setup.GetAsync(Token);
        await vault.Node.EnsureRunningAsync();
        return vault;
    }

    /// <summary>Sends <paramref name="file"/> through <paramref name="instance"/> to <paramref name="mailbox"/>; returns the delivered link and its CID.</summary>
    private static async Task<(string Link, string Cid)> SendAsync(TwoInstances vault, DetachProcess instance, string mailbox, string messageIdOrTag, string file)
    {
        var messageId = messageIdOrTag.StartsWith('<') ? messageIdOrTag : TestFiles.NewMessageId(messageIdOrTag);
        var sent = await vault.SwaksThrough(instance)
            .To(PostfixInstance.Address(mailbox))
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);
        Assert.True(sent.ExitCode == 0, $"{sent}\ndetach {instance.Name}:\n{instance.Output}");
        var mail = await vault.WaitForMailAsync(mailbox, messageId, Token);
        var link = Assert.Single(mail.Links);
        Assert.StartsWith(TwoInstances.PublicUrl + "/d/", link, StringComparison.Ordinal);
        return (link, DetachProcess.SplitLink(link).Cid);
    }

    private static async Task<string> Sha256Async(HttpResponseMessage response)
    {
        await using var body = await response.Content.ReadAsStreamAsync(Token);
        return Convert.ToHexString(await SHA256.HashDataAsync(body, Token));
    }

    private static (int Expired, int Orphans) GcCounts(ProcessResult result)
    {
        var match = GcLine().Match(result.StandardOutput);
        Assert.True(match.Success, result.ToString());
        return (int.Parse(match.Groups["expired"].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(match.Groups["orphans"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"expired (?<expired>\d+), orphans removed (?<orphans>\d+)")]
    private static partial Regex GcLine();

    [GeneratedRegex(@"/api/v0/pin/rm\?arg=(?<cid>[a-z0-9]+)")]
    private static partial Regex PinRm();
}
