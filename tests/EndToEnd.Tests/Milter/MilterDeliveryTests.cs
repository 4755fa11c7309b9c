using System.Globalization;
using System.Text;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;

namespace Detach.EndToEnd.Tests.Milter;

/// <summary>Mail through a real Postfix whose smtpd_milters is detach: what arrives in the mailboxes.</summary>
public sealed class MilterDeliveryTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-milter-");

    private const string Date = "Fri, 04 Dec 2026 10:00:00 +0000";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task Attachments_leave_the_mail_and_their_links_download_byte_identical()
    {
        PeerBinaries.RequireSwaks();
        await using var setup = await PostfixWithMilter.StartAsync(Token);
        var report = TestFiles.WriteRandom(_scratch.FullName, "report.pdf", 3 * 1024 * 1024);
        var photo = TestFiles.WriteRandom(_scratch.FullName, "photo.jpg", 200 * 1024);
        var messageId = TestFiles.NewMessageId("milter-attachments");

        var sent = await setup.Swaks()
            .To(PostfixInstance.Address("alice"), PostfixInstance.Address("bob"))
            .Header("Message-Id", messageId)
            .Header("Subject", "Quarterly report")
            .Attach(report, "application/pdf")
            .Attach(photo, "image/jpeg")
            .RunAsync(Token);
        Assert.True(sent.ExitCode == 0, sent.ToString());

        foreach (var mailbox in new[] { "alice", "bob" })
        {
            var mail = Assert.Single(await setup.WaitForCopiesAsync(mailbox, messageId, Token));
            Assert.Equal("Quarterly report", mail.Header("Subject"));
            Assert.StartsWith("2 attachments", mail.Header("X-Detach"), StringComparison.Ordinal);
            Assert.Equal(2, mail.Links.Count);
            Assert.False(mail.ContainsBase64Of(TestFiles.DistinctiveChunk(report)), "the report's bytes are still in the mail");
            Assert.False(mail.ContainsBase64Of(TestFiles.DistinctiveChunk(photo)), "the photo's bytes are still in the mail");
            Assert.True(mail.Size < 20_000, $"{mail.Size} bytes delivered");
            Assert.Equal(TestFiles.Sha256(report), await setup.Detach.FetchSha256Async(mail.Links[0], Token));
            Assert.Equal(TestFiles.Sha256(photo), await setup.Detach.FetchSha256Async(mail.Links[1], Token));

            // X-Detach sits on top, above Postfix's own Received field, and the header is unfolded with LF only.
            Assert.Equal("X-Detach", mail.Headers.SkipWhile(h => h.Name is "Return-Path" or "X-Original-To" or "Delivered-To").First().Name);
            Assert.DoesNotContain("\r", mail.Raw, StringComparison.Ordinal);
        }

        Assert.Empty(setup.Postfix.MessagesIn("sender")); // no bounce

        // Settled: committed once the accept went to Postfix (retried mail would have left orphans behind).
        var records = await setup.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token);
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal(Detach.Vault.Index.StoreState.Stored, r.StoreState));
    }

    [Theory]
    [InlineData("text/plain; charset=us-ascii", false)]
    [InlineData("text/html; charset=utf-8", false)]
    [InlineData("multipart/alternative; boundary=\"alt\"", false)]
    [InlineData("text/plain; charset=us-ascii", true)]
    public async Task Plain_mail_arrives_byte_for_byte_as_sent(string contentType, bool lineFeedsOnly)
    {
        await using var setup = await PostfixWithMilter.StartAsync(Token);
        var messageId = TestFiles.NewMessageId("milter-plain");
        var body = contentType.StartsWith("multipart", StringComparison.Ordinal)
            ? "--alt\nContent-Type: text/plain\n\nHello there.\n--alt\nContent-Type: text/html\n\n<p>Hello there.</p>\n--alt--\n"
            : string.Concat(Enumerable.Range(0, 200).Select(i => $"Line {i} of a plain message, nothing attached.  Trailing blanks stay.  \n"));
        // Date and Message-ID given, so that Postfix's cleanup adds none: what it delivers must be what was sent.
        var message = $"From: Sender <{PostfixWithMilter.Sender}>\nTo: alice@example.test\nDate: {Date}\nSubject: plain\n  folded subject line\n" +
            $"Message-ID: {messageId}\nMIME-Version: 1.0\nContent-Type: {contentType}\n\n{body}";

        await SendRawAsync(setup.Postfix.InboundPort, [message], lineFeedsOnly);

        var mail = Assert.Single(await setup.WaitForCopiesAsync("alice", messageId, Token));
        Assert.EndsWith("\n" + message, mail.Raw, StringComparison.Ordinal); // Postfix's fields on top, then exactly what was sent
        Assert.Null(mail.Header("X-Detach"));
    }

    /// <param name="noMemory">TotalMessageMemoryBytes=0: every message, headers included, spooled to a file (written
    /// off the socket event thread, or the guard fails the message).</param>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Several_messages_on_one_SMTP_connection_each_get_their_own_verdict(bool lineFeedsOnly, bool noMemory)
    {
        await using var setup = await PostfixWithMilter.StartAsync(Token, noMemory ? ["TotalMessageMemoryBytes=0", "MessageMemoryBytes=0"] : null);
        var data = new byte[600 * 1024];
        new Random(42).NextBytes(data);
        var ids = Enumerable.Range(0, 4).Select(i => TestFiles.NewMessageId($"milter-multi{i}")).ToArray();
        string Plain(int i) => $"From: {PostfixWithMilter.Sender}\nTo: carol@example.test\nDate: {Date}\nSubject: plain {i}\nMessage-ID: {ids[i]}\n\nJust text.\n";
        var withAttachment =
            $"From: {PostfixWithMilter.Sender}\nTo: carol@example.test\nSubject: with a file\nMessage-ID: {ids[1]}\nMIME-Version: 1.0\n" +
            "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSee the file.\n--b\n" +
            "Content-Type: application/octet-stream; name=\"data.bin\"\nContent-Disposition: attachment; filename=\"data.bin\"\n" +
            "Content-Transfer-Encoding: base64\n\n" + Convert.ToBase64String(data, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal) + "\n--b--\n";

        await SendRawAsync(setup.Postfix.InboundPort, [Plain(0), withAttachment, Plain(2), Plain(3)], lineFeedsOnly);

        for (int i = 0; i < ids.Length; i++)
        {
            var mail = Assert.Single(await setup.WaitForCopiesAsync("carol", ids[i], Token));
            if (i == 1)
            {
                var link = Assert.Single(mail.Links);
                Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data)), await setup.Detach.FetchSha256Async(link, Token));
                Assert.Contains("See the file.", mail.DecodedText, StringComparison.Ordinal);
            }
            else
            {
                Assert.EndsWith("\n" + Plain(i), mail.Raw, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Mail_submitted_with_sendmail_goes_through_non_smtpd_milters()
    {
        await using var setup = await PostfixWithMilter.StartAsync(Token);
        var file = TestFiles.WriteRandom(_scratch.FullName, "local.zip", 300 * 1024);
        var messageId = TestFiles.NewMessageId("milter-sendmail");
        var message = Path.Combine(_scratch.FullName, "message.eml");
        await File.WriteAllTextAsync(message,
            $"From: {PostfixWithMilter.Sender}\nTo: bob@example.test\nSubject: from the command line\nMessage-ID: {messageId}\nMIME-Version: 1.0\n" +
            "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nAttached.\n--b\n" +
            "Content-Type: application/zip\nContent-Disposition: attachment; filename=\"local.zip\"\nContent-Transfer-Encoding: base64\n\n" +
            Convert.ToBase64String(await File.ReadAllBytesAsync(file, Token), Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal) +
            "\n--b--\n", Token);

        var sendmail = PeerBinaries.Find("sendmail") ?? throw new InvalidOperationException("Postfix's sendmail is missing");
        var result = await ChildProcess.RunAsync("/bin/sh",
            ["-c", $"\"{sendmail}\" -C \"{setup.Postfix.ConfigDirectory}\" -f {PostfixWithMilter.Sender} bob@example.test < \"{message}\""],
            TimeSpan.FromSeconds(60), Token);
        Assert.True(result.Succeeded, result.ToString());

        var mail = Assert.Single(await setup.WaitForCopiesAsync("bob", messageId, Token));
        Assert.Equal(TestFiles.Sha256(file), await setup.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        Assert.Contains("(Postfix, from userid 0)", mail.Raw, StringComparison.Ordinal); // came in through pickup, not smtpd
    }

    [Fact]
    public async Task A_storage_failure_is_a_4xx_at_the_client_and_nothing_is_delivered()
    {
        PeerBinaries.RequireSwaks();
        // An IPFS API nobody answers, and TempFail: every attachment fails to store.
        await using var setup = await PostfixWithMilter.StartAsync(Token,
            [$"Vault:IpfsApiUrl=http://127.0.0.1:{FreePort.Next().ToString(CultureInfo.InvariantCulture)}", "Vault:WhenNodeDown=TempFail", "Vault:IpfsTimeoutSeconds=5"]);
        var file = TestFiles.WriteRandom(_scratch.FullName, "contract.pdf", 256 * 1024);

        var refused = await setup.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", TestFiles.NewMessageId("milter-outage")).Attach(file).RunAsync(Token);

        var reply = Assert.Single(refused.DataReplies);
        Assert.Equal(451, reply.Code);
        Assert.Contains("4.3.0 Attachment storage failed", reply.Text, StringComparison.Ordinal);
        await setup.Postfix.WaitForLogAsync("milter-reject: END-OF-MESSAGE", PostfixWithMilter.Patience, Token);
        Assert.True(await setup.Postfix.QueueIsEmptyAsync(Token), "a refused message is never queued");
        Assert.Empty(setup.Postfix.MessagesIn("alice"));
        Assert.Empty(setup.Postfix.MessagesIn("sender"));

        // Plain mail needs no storage: it still flows.
        var plainId = TestFiles.NewMessageId("milter-outage-plain");
        var plain = await setup.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", plainId).Body("No files here.").RunAsync(Token);
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Single(await setup.WaitForCopiesAsync("alice", plainId, Token));
    }

    [Fact]
    public async Task With_detach_down_Postfix_answers_4xx_as_the_documented_default_action_says()
    {
        PeerBinaries.RequireSwaks();
        await using var setup = await PostfixWithMilter.StartAsync(Token, startDetach: false);

        var refused = await setup.Swaks().To(PostfixInstance.Address("alice")).Body("Anything.").RunAsync(Token);

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains(refused.Exchanges, e => e.Code is >= 400 and < 500);
        Assert.True(await setup.Postfix.QueueIsEmptyAsync(Token));
        Assert.Empty(setup.Postfix.MessagesIn("alice"));
    }

    /// <summary>One SMTP session sending each message in turn; CRLF line ends unless <paramref name="lineFeedsOnly"/>.</summary>
    private static async Task SendRawAsync(int port, IReadOnlyList<string> messages, bool lineFeedsOnly)
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.example.test")).Code);
        foreach (var message in messages)
        {
            Assert.Equal(250, (await smtp.CommandAsync($"MAIL FROM:<{PostfixWithMilter.Sender}>")).Code);
            var to = message.Split('\n').First(l => l.StartsWith("To: ", StringComparison.Ordinal))[4..];
            Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<{to}>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var eol = lineFeedsOnly ? "\n" : "\r\n";
            var stuffed = string.Join(eol, message.TrimEnd('\n').Split('\n').Select(l => l.StartsWith('.') ? "." + l : l));
            await smtp.SendAsync(Encoding.Latin1.GetBytes(stuffed + "\r\n.\r\n"));
            var reply = await smtp.ReadReplyAsync();
            Assert.True(reply.Code == 250, reply.ToString());
        }

        await smtp.CommandAsync("QUIT");
    }
}
