using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>One Postfix with detach as its before-queue proxy (local store), shared by the delivery tests.</summary>
public sealed class ProxyDeliverySetup : SharedSetup<PostfixWithDetach>
{
    protected override Task<PostfixWithDetach> StartAsync(CancellationToken cancellationToken) =>
        PostfixWithDetach.StartAsync(cancellationToken);
}

/// <summary>Mail from a client through Postfix → detach → Postfix's after-filter smtpd → Maildirs.</summary>
public sealed class ProxyDeliveryTests(ProxyDeliverySetup setup) : IClassFixture<ProxyDeliverySetup>, IDisposable
{
    private static readonly string[] Recipients = ["alice", "bob", "carol"];

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-proxy-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Mail_with_attachments_reaches_every_recipient_once_with_links_that_decrypt(int attachmentCount)
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        var setup1 = await setup.GetAsync(Token);
        var files = attachmentCount switch
        {
            0 => Array.Empty<string>(),
            1 => [TestFiles.WriteRandom(_scratch.FullName, "report.pdf", 300 * 1024)],
            _ =>
            [
                TestFiles.WriteRandom(_scratch.FullName, "archive.bin", 25 * 1024 * 1024),
                TestFiles.WriteRandom(_scratch.FullName, "photo.jpg", 64 * 1024),
                TestFiles.WriteRandom(_scratch.FullName, "slides.pdf", 1024 * 1024),
            ],
        };
        var messageId = TestFiles.NewMessageId($"delivery{attachmentCount}");
        var subject = $"Quarterly figures, {attachmentCount} attachment(s)";

        var swaks = setup1.Swaks()
            .To([.. Recipients.Select(PostfixInstance.Address)])
            .Helo("some.client.test")
            .Add("--local-interface", "127.0.0.5")
            .Header("Subject", subject)
            .Header("Message-Id", messageId)
            .Header("X-Custom-Trace", "kept-by-detach-42")
            .Body("Here are the files.");
        foreach (var file in files)
        {
            swaks.Attach(file);
        }

        var result = await swaks.RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var recipient in Recipients)
        {
            Assert.Equal(250, result.ReplyToRecipient(PostfixInstance.Address(recipient)).Code);
        }

        Assert.Equal(250, Assert.Single(result.DataReplies).Code);

        var digests = files.Select(TestFiles.Sha256).ToArray();
        foreach (var recipient in Recipients)
        {
            var mail = Assert.Single(await setup1.WaitForCopiesAsync(recipient, messageId, Token));
            Assert.Equal(subject, mail.Header("Subject"));
            Assert.Equal("kept-by-detach-42", mail.Header("X-Custom-Trace"));
            Assert.Contains(PostfixWithDetach.Sender, mail.Header("From"), StringComparison.Ordinal);

            await AssertClientForwardedAsync(setup1, mail);

            var links = mail.Links;
            Assert.Equal(files.Length, links.Count);
            foreach (var link in links)
            {
                Assert.StartsWith($"http://127.0.0.1:{setup1.Detach.HttpPort}/d/", link, StringComparison.Ordinal);
                Assert.Contains(link, mail.DecodedText, StringComparison.Ordinal); // the notice in the text body names it too
            }

            foreach (var file in files)
            {
                Assert.False(mail.ContainsBase64Of(TestFiles.DistinctiveChunk(file)), $"{mail} still carries bytes of {Path.GetFileName(file)}");
            }

            Assert.True(mail.Size < 64 * 1024, $"{mail} is {mail.Size} bytes");

            var fetched = new List<string>();
            foreach (var link in links)
            {
                fetched.Add(await setup1.Detach.FetchSha256Async(link, Token));
            }

            Assert.Equal(digests.Order(), fetched.Order());
        }

        // No bounce, no copy for anyone else.
        await setup1.Postfix.WaitForEmptyQueueAsync(PostfixWithDetach.Patience, Token);
        var log = await setup1.Postfix.ReadLogAsync(Token);
        Assert.DoesNotContain("status=bounced", log, StringComparison.Ordinal);
        Assert.DoesNotContain("bounced", log, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(setup1.Postfix.MessagesIn("sender"));
        Assert.Empty(await setup1.CopiesAsync("postmaster", messageId, Token));
    }

    [Fact]
    public async Task Detach_passes_the_client_on_with_xforward_in_bdat_chunks_and_keeps_the_before_filter_received_line()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var relay = new RecordingTcpRelay();
        // No pooling of next-hop connections here: the test reads the relayed session once detach closes it.
        await using var own = await PostfixWithDetach.StartAsync(Token, ["Smtp:NextHopPoolSize=0"], nextHopRelay: relay);
        var messageId = TestFiles.NewMessageId("xforward");

        var result = await own.Swaks()
            .To(PostfixInstance.Address("carol"))
            .Helo("some.client.test")
            .Add("--local-interface", "127.0.0.5")
            .Header("Message-Id", messageId)
            .RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());

        var session = Assert.Single(await relay.WaitForClosedConnectionsAsync(1, PostfixWithDetach.Patience, Token));
        var xforward = string.Join(' ', session.ClientLines.Where(l => l.StartsWith("XFORWARD ", StringComparison.Ordinal)));
        Assert.Contains("ADDR=127.0.0.5", xforward, StringComparison.Ordinal);
        Assert.Contains("HELO=some.client.test", xforward, StringComparison.Ordinal);

        // Postfix's smtpd offers CHUNKING: the message goes in BDAT chunks, pipelined after XFORWARD and MAIL.
        Assert.Contains(session.ClientLines, l => l.StartsWith("BDAT ", StringComparison.Ordinal) && l.EndsWith(" LAST", StringComparison.Ordinal));
        Assert.DoesNotContain("DATA", session.ClientLines);

        var mail = Assert.Single(await own.WaitForCopiesAsync("carol", messageId, Token));
        await AssertClientForwardedAsync(own, mail);
    }

    /// <summary>
    /// What Postfix does with the client's identity in the before-queue setup (smtpd.c data_cmd): the before-filter
    /// smtpd writes the Received line naming the real client and sends it through detach, which must keep it; the
    /// after-filter smtpd always writes its own Received line from its real peer (detach), and uses the XFORWARD
    /// attributes for its log ("orig_client=") and policy, never for that line.
    /// </summary>
    private static async Task AssertClientForwardedAsync(PostfixWithDetach setup, DeliveredMail mail)
    {
        var received = mail.HeaderValues("Received").ToArray();
        var context = $"Received lines of {mail}:\n{string.Join('\n', received)}";
        Assert.True(received.Length >= 2, context);
        var afterFilter = System.Text.RegularExpressions.Regex.Match(received[0], @"^from \S+ \(unknown \[127\.0\.0\.1\]\) by mx\.example\.test \(Postfix\) with ESMTP id (\w+)");
        Assert.True(afterFilter.Success, context);
        Assert.StartsWith("from some.client.test (unknown [127.0.0.5]) by mx.example.test (Postfix) with ESMTP", received[1], StringComparison.Ordinal);

        var queueId = afterFilter.Groups[1].Value;
        var line = await setup.Postfix.WaitForLogAsync($"{queueId}: client=", PostfixWithDetach.Patience, Token);
        Assert.Contains("orig_client=unknown[127.0.0.5]", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_senders_each_get_exactly_one_copy_per_recipient_with_their_own_attachment()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        var setup1 = await setup.GetAsync(Token);
        var sends = Enumerable.Range(0, 8).Select(i => (
            MessageId: TestFiles.NewMessageId($"concurrent{i}"),
            File: TestFiles.WriteRandom(_scratch.FullName, $"concurrent{i}.bin", 150 * 1024 + i * 4096),
            To: new[] { Recipients[i % 3], Recipients[(i + 1) % 3] })).ToArray();

        var results = await Task.WhenAll(sends.Select(s => setup1.Swaks()
            .To([.. s.To.Select(PostfixInstance.Address)])
            .Header("Message-Id", s.MessageId)
            .Attach(s.File)
            .RunAsync(Token)));

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.ToString()));
        foreach (var send in sends)
        {
            foreach (var mailbox in send.To)
            {
                var mail = Assert.Single(await setup1.WaitForCopiesAsync(mailbox, send.MessageId, Token));
                Assert.Equal(TestFiles.Sha256(send.File), await setup1.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
            }

            Assert.Empty(await setup1.CopiesAsync(Recipients.Except(send.To).Single(), send.MessageId, Token));
        }
    }

    [Fact]
    public async Task Smtputf8_sender_and_dsn_parameters_pass_through_postfix_and_detach()
    {
        PeerBinaries.RequirePostfix();
        var setup1 = await setup.GetAsync(Token);
        var messageId = TestFiles.NewMessageId("utf8");
        await using var client = await RawSmtpClient.ConnectAsync(setup1.Postfix.InboundPort);
        Assert.Contains("SMTPUTF8", (await client.CommandAsync("EHLO intl.client.test")).Text, StringComparison.Ordinal);
        var utf8 = System.Text.Encoding.UTF8;
        async Task<int> Utf8CommandAsync(string line)
        {
            await client.SendAsync(utf8.GetBytes(line + "\r\n"));
            return (await client.ReadReplyAsync()).Code;
        }

        Assert.Equal(250, await Utf8CommandAsync("MAIL FROM:<jörg.müller@client.test> SMTPUTF8 RET=HDRS ENVID=e2e-utf8"));
        Assert.Equal(250, await Utf8CommandAsync("RCPT TO:<alice@example.test> NOTIFY=NEVER"));
        Assert.Equal(354, await Utf8CommandAsync("DATA"));
        Assert.Equal(250, await Utf8CommandAsync($"From: Jörg Müller <jörg.müller@client.test>\r\nTo: alice@example.test\r\nSubject: Grüße aus Köln\r\nMessage-Id: {messageId}\r\n\r\nÄpfel und Birnen\r\n."));
        Assert.Equal(221, await Utf8CommandAsync("QUIT"));

        var mail = Assert.Single(await setup1.WaitForCopiesAsync("alice", messageId, Token));
        var text = utf8.GetString(await File.ReadAllBytesAsync(mail.Path, Token));
        Assert.Contains("Return-Path: <jörg.müller@client.test>", text, StringComparison.Ordinal);
        Assert.Contains("Subject: Grüße aus Köln", text, StringComparison.Ordinal);
        Assert.Contains("Äpfel und Birnen", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_recipient_is_refused_to_the_sender_and_the_known_one_gets_the_mail_once()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        var setup1 = await setup.GetAsync(Token);
        var messageId = TestFiles.NewMessageId("unknown-rcpt");
        var file = TestFiles.WriteRandom(_scratch.FullName, "invoice.pdf", 200 * 1024);

        var result = await setup1.Swaks()
            .To(PostfixInstance.Address("bob"), PostfixInstance.Address("nobody"))
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);

        var refused = result.ReplyToRecipient(PostfixInstance.Address("nobody"));
        Assert.Equal(550, refused.Code);
        Assert.Contains("5.1.1", refused.Text, StringComparison.Ordinal);
        Assert.Equal(250, result.ReplyToRecipient(PostfixInstance.Address("bob")).Code);
        Assert.Equal(250, Assert.Single(result.DataReplies).Code);

        var mail = Assert.Single(await setup1.WaitForCopiesAsync("bob", messageId, Token));
        Assert.Equal(TestFiles.Sha256(file), await setup1.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        Assert.False(Directory.Exists(setup1.Postfix.MaildirFor("nobody")));
        Assert.Empty(await setup1.CopiesAsync("sender", messageId, Token));
        Assert.Empty(setup1.Postfix.MessagesIn("sender"));
    }
}
