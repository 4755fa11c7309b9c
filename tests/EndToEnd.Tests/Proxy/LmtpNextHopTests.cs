using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>One private Dovecot (LMTP and IMAP; users alice, bob, carol) shared by the LMTP tests.</summary>
public sealed class DovecotSetup : SharedSetup<DovecotInstance>
{
    protected override Task<DovecotInstance> StartAsync(CancellationToken cancellationToken) => DovecotInstance.StartAsync(cancellationToken);
}

/// <summary>detach in front of Dovecot's LMTP service, read back over IMAP the way a mail client does.</summary>
public sealed class LmtpNextHopTests(DovecotSetup setup) : IClassFixture<DovecotSetup>, IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-lmtp-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    private async Task<(DovecotInstance Dovecot, DetachServer Detach)> StartAsync(params string[] settings)
    {
        PeerBinaries.RequireDovecot();
        PeerBinaries.RequireSwaks();
        var dovecot = await setup.GetAsync(Token);
        var detach = await DetachServer.StartAsync([$"Smtp:NextHop=lmtp://127.0.0.1:{dovecot.LmtpPort}", .. settings], Token);
        return (dovecot, detach);
    }

    [Fact]
    public async Task Smtp_client_through_detach_to_dovecot_unknown_user_refused_at_rcpt_others_read_it_over_imap()
    {
        var (dovecot, detach) = await StartAsync();
        await using var _ = detach;
        var file = TestFiles.WriteRandom(_scratch.FullName, "minutes.pdf", 700 * 1024);
        var messageId = TestFiles.NewMessageId("lmtp-hop");

        var result = await new Swaks(detach.SmtpPort)
            .To("alice@example.test", "bob@example.test", "nobody@example.test")
            .Header("Message-Id", messageId)
            .Header("Subject", "minutes over lmtp")
            .Attach(file)
            .RunAsync(Token);

        var refused = result.ReplyToRecipient("nobody@example.test");
        Assert.Equal(550, refused.Code);
        Assert.Contains("5.1.1", refused.Text, StringComparison.Ordinal);
        Assert.Equal(250, result.ReplyToRecipient("alice@example.test").Code);
        Assert.Equal(250, result.ReplyToRecipient("bob@example.test").Code);
        Assert.Equal(250, Assert.Single(result.DataReplies).Code);

        foreach (var user in new[] { "alice", "bob" })
        {
            var mail = await FetchOverImapAsync(dovecot, user, messageId);
            Assert.Equal("minutes over lmtp", mail.Header("Subject"));
            Assert.False(mail.ContainsBase64Of(TestFiles.DistinctiveChunk(file)));
            Assert.Equal(TestFiles.Sha256(file), await detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        }

        // Other tests share this Dovecot and write to carol: only this message must not be there.
        Assert.DoesNotContain(dovecot.MessagesIn("carol"), path => File.ReadAllText(path).Contains(messageId, StringComparison.Ordinal));
        var record = Assert.Single(await detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        Assert.Equal(2, record.RecipientCount);
    }

    [Fact]
    public async Task Lmtp_client_through_detach_to_dovecot_gets_one_reply_per_recipient_after_the_dot()
    {
        var (dovecot, detach) = await StartAsync("Smtp:Lmtp=true");
        await using var _ = detach;
        var file = TestFiles.WriteRandom(_scratch.FullName, "scan.tiff", 300 * 1024);
        var messageId = TestFiles.NewMessageId("lmtp-front");

        var result = await new Swaks(detach.SmtpPort)
            .Lmtp()
            .To("carol@example.test", "nobody@example.test", "alice@example.test")
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);

        Assert.Equal(550, result.ReplyToRecipient("nobody@example.test").Code);
        var replies = result.DataReplies;
        Assert.Equal(2, replies.Count);
        Assert.All(replies, r => Assert.Equal(250, r.Code));
        Assert.True(result.ExitCode == 0, result.ToString());

        foreach (var user in new[] { "carol", "alice" })
        {
            var mail = await FetchOverImapAsync(dovecot, user, messageId);
            Assert.Equal(TestFiles.Sha256(file), await detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        }
    }

    /// <summary>
    /// One recipient's mailbox is broken (its Maildir path is a plain file), so Dovecot takes the message for one
    /// user and answers 4xx for the other after the dot. An LMTP client hears exactly that; an SMTP client can get
    /// only one reply, and detach picks "try again" (the delivered recipient will get a second copy, never none).
    /// </summary>
    [Fact]
    public async Task Partial_delivery_failure_is_reported_per_recipient_over_lmtp_and_as_a_retry_over_smtp()
    {
        PeerBinaries.RequireDovecot();
        PeerBinaries.RequireSwaks();
        await using var dovecot = await DovecotInstance.StartAsync(new DovecotOptions { Mailboxes = ["dora", "emil"] }, Token);
        await File.WriteAllTextAsync(dovecot.MaildirFor("emil"), "not a maildir", Token);

        await using (var lmtpFront = await DetachServer.StartAsync([$"Smtp:NextHop=lmtp://127.0.0.1:{dovecot.LmtpPort}", "Smtp:Lmtp=true"], Token))
        {
            var messageId = TestFiles.NewMessageId("partial-lmtp");
            var result = await new Swaks(lmtpFront.SmtpPort).Lmtp()
                .To("dora@example.test", "emil@example.test")
                .Header("Message-Id", messageId)
                .Attach(TestFiles.WriteRandom(_scratch.FullName, "partial1.bin", 64 * 1024))
                .RunAsync(Token);

            var replies = result.DataReplies;
            Assert.Equal(2, replies.Count);
            Assert.Equal(250, replies[0].Code);
            Assert.True(replies[1].Code is >= 400 and < 500, result.ToString());
            await FetchOverImapAsync(dovecot, "dora", messageId);
        }

        await using var smtpFront = await DetachServer.StartAsync([$"Smtp:NextHop=lmtp://127.0.0.1:{dovecot.LmtpPort}"], Token);
        var retryId = TestFiles.NewMessageId("partial-smtp");
        var smtp = await new Swaks(smtpFront.SmtpPort)
            .To("dora@example.test", "emil@example.test")
            .Header("Message-Id", retryId)
            .Attach(TestFiles.WriteRandom(_scratch.FullName, "partial2.bin", 64 * 1024))
            .RunAsync(Token);

        var reply = Assert.Single(smtp.DataReplies);
        Assert.True(reply.Code is >= 400 and < 500, smtp.ToString());
        await FetchOverImapAsync(dovecot, "dora", retryId);
        var record = Assert.Single(await smtpFront.Vault.Index.FindByMessageIdAsync(retryId, Token));
        Assert.Equal(Detach.Vault.Index.StoreState.Stored, record.StoreState); // dora has the link: it must keep working
    }

    /// <summary>Logs in as <paramref name="user"/> and returns the one message with <paramref name="messageId"/> in INBOX.</summary>
    private static async Task<DeliveredMail> FetchOverImapAsync(DovecotInstance dovecot, string user, string messageId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var matching = (await dovecot.FetchAllAsync(user, Token))
                .Select(DeliveredMail.FromBytes)
                .Where(m => m.Header("Message-Id") == messageId)
                .ToArray();
            if (matching.Length > 0 || DateTime.UtcNow > deadline)
            {
                return Assert.Single(matching);
            }

            await Task.Delay(100, Token);
        }
    }
}
