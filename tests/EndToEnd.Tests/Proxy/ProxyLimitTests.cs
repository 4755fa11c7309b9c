using System.Security.Cryptography;
using System.Text;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.Vault.Index;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>Postfix (message_size_limit 8 MiB) in front of detach limited to 1 MiB messages.</summary>
public sealed class ProxyLimitSetup : SharedSetup<PostfixWithDetach>
{
    public const long DetachLimit = 1024 * 1024;

    protected override Task<PostfixWithDetach> StartAsync(CancellationToken cancellationToken) =>
        PostfixWithDetach.StartAsync(
            cancellationToken,
            [$"Smtp:MaxMessageBytes={DetachLimit}"],
            o => o with { MessageSizeLimit = 8 * 1024 * 1024 });
}

/// <summary>
/// Clients that misbehave or exceed limits get the right reply, and the proxy keeps serving everyone else:
/// each case is followed (or accompanied) by a normal message from another client that must arrive.
/// </summary>
public sealed class ProxyLimitTests(ProxyLimitSetup setup) : IClassFixture<ProxyLimitSetup>, IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-limits-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    private async Task<PostfixWithDetach> StartAsync()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        return await setup.GetAsync(Token);
    }

    [Fact]
    public async Task Garbage_gets_500_replies_then_421_while_another_client_is_served()
    {
        var proxy = await StartAsync();
        await using var garbage = await RawSmtpClient.ConnectAsync(proxy.Detach.SmtpPort);

        // Random bytes, cut into lines; some are not UTF-8, some are just unknown words. As many lines as the
        // server's error budget (SmtpLimits.MaxErrors, 20): input left unread at close would make the kernel
        // reset the connection and could drop the replies before the test reads them.
        var noise = new MemoryStream();
        for (var i = 0; i < 20; i++)
        {
            var line = RandomNumberGenerator.GetBytes(80).Select(b => b is (byte)'\r' or (byte)'\n' ? (byte)'x' : b).ToArray();
            noise.Write(line);
            noise.Write("\r\n"u8);
        }

        var normal = SendNormalMessageAsync(proxy, "during-garbage");
        await garbage.SendAsync(noise.ToArray());
        var replies = await garbage.ReadUntilClosedAsync();

        Assert.NotEmpty(replies);
        Assert.All(replies.SkipLast(1), r => Assert.Equal(500, r.Code));
        Assert.Equal(421, replies[^1].Code);
        Assert.InRange(replies.Count, 2, 21);
        await normal;
    }

    [Fact]
    public async Task Command_line_over_512_octets_gets_500_and_the_session_goes_on()
    {
        var proxy = await StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(proxy.Detach.SmtpPort);
        Assert.Equal(250, (await client.CommandAsync("EHLO long.client.test")).Code);

        var tooLong = await client.CommandAsync($"MAIL FROM:<{new string('a', 600)}@example.test>");
        Assert.Equal(500, tooLong.Code);
        Assert.Equal("5.5.2", tooLong.EnhancedCode);

        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{PostfixWithDetach.Sender}>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RSET")).Code);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        await SendNormalMessageAsync(proxy, "after-long-command");
    }

    /// <summary>
    /// RFC 5321 lets a server refuse text lines over 1000 octets, but Postfix does not, and detach sits behind
    /// Postfix: it must take what Postfix took. The line reaches the mailbox intact.
    /// </summary>
    [Fact]
    public async Task Text_line_over_1000_octets_sent_straight_to_detach_is_accepted_and_delivered_intact()
    {
        var proxy = await StartAsync();
        var messageId = TestFiles.NewMessageId("long-line-direct");
        var line = string.Concat(Enumerable.Range(0, 700).Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)));
        await using var client = await RawSmtpClient.ConnectAsync(proxy.Detach.SmtpPort);
        await client.CommandAsync("EHLO long.client.test");
        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{PostfixWithDetach.Sender}>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendLineAsync($"Message-Id: {messageId}\r\nSubject: long line\r\n\r\n{line}\r\n.");
        var reply = await client.ReadReplyAsync();

        Assert.Equal(250, reply.Code);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        var mail = Assert.Single(await proxy.WaitForCopiesAsync("alice", messageId, Token));
        Assert.Contains(line + "\n", mail.Raw, StringComparison.Ordinal);
        await SendNormalMessageAsync(proxy, "after-long-line");
    }

    /// <summary>
    /// Postfix accepts text lines of any length (it splits them past line_length_limit and rejoins them for the
    /// proxy), so a real mail with a 1500-octet line (common in generated HTML) reaches detach through Postfix.
    /// A proxy stricter than Postfix turns such mail into a permanent refusal to the sender.
    /// </summary>
    [Fact]
    public async Task Text_line_over_1000_octets_through_postfix_is_delivered_not_refused()
    {
        var proxy = await StartAsync();
        var messageId = TestFiles.NewMessageId("long-line-postfix");
        var line = string.Concat(Enumerable.Repeat("<td>cell</td>", 120));

        var result = await proxy.Swaks()
            .To(PostfixInstance.Address("bob"))
            .Header("Message-Id", messageId)
            .Body(line)
            .RunAsync(Token);

        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await proxy.WaitForCopiesAsync("bob", messageId, Token));
        Assert.Contains(line, mail.Raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_over_detach_limit_is_refused_with_552_through_postfix_and_nothing_is_queued()
    {
        var proxy = await StartAsync();
        var messageId = TestFiles.NewMessageId("too-big");
        var file = TestFiles.WriteRandom(_scratch.FullName, "too-big.bin", (int)ProxyLimitSetup.DetachLimit);

        var result = await proxy.Swaks()
            .To(PostfixInstance.Address("carol"))
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);

        var refusal = Assert.Single(result.DataReplies);
        Assert.Equal(552, refusal.Code);
        Assert.Contains("5.3.4", refusal.Text, StringComparison.Ordinal);
        Assert.NotEqual(0, result.ExitCode);
        await proxy.Postfix.WaitForLogAsync("proxy-reject: END-OF-MESSAGE: 552", PostfixWithDetach.Patience, Token);
        Assert.True(await proxy.Postfix.QueueIsEmptyAsync(Token));
        Assert.Empty(await proxy.CopiesAsync("carol", messageId, Token));
        Assert.Empty(await proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        await SendNormalMessageAsync(proxy, "after-too-big");
    }

    [Fact]
    public async Task After_a_size_refusal_the_same_session_delivers_its_next_message_once()
    {
        var proxy = await StartAsync();
        var bigId = TestFiles.NewMessageId("same-session-big");
        var smallId = TestFiles.NewMessageId("same-session-small");
        await using var client = await RawSmtpClient.ConnectAsync(proxy.Detach.SmtpPort);
        await client.CommandAsync("EHLO reuse.client.test");

        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{PostfixWithDetach.Sender}>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<bob@example.test>")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        var filler = Convert.ToBase64String(RandomNumberGenerator.GetBytes((int)ProxyLimitSetup.DetachLimit), Base64FormattingOptions.InsertLineBreaks);
        var refused = await client.CommandAsync($"Message-Id: {bigId}\r\n\r\n{filler}\r\n.");
        Assert.Equal(552, refused.Code);

        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{PostfixWithDetach.Sender}>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<bob@example.test>")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await client.CommandAsync($"Message-Id: {smallId}\r\nSubject: second try\r\n\r\nsmall\r\n.")).Code);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);

        Assert.Single(await proxy.WaitForCopiesAsync("bob", smallId, Token));
        Assert.Empty(await proxy.CopiesAsync("bob", bigId, Token));
        Assert.True(await proxy.Postfix.QueueIsEmptyAsync(Token));
    }

    [Fact]
    public async Task Client_vanishing_in_the_middle_of_data_leaves_nothing_delivered_queued_or_stored()
    {
        var proxy = await StartAsync();
        var messageId = TestFiles.NewMessageId("vanished");
        var sessionsBefore = proxy.Detach.Logs.Count(l => l.Contains("connection lost in DATA", StringComparison.Ordinal));
        await using (var client = await RawSmtpClient.ConnectAsync(proxy.Detach.SmtpPort))
        {
            await client.CommandAsync("EHLO vanishing.client.test");
            await client.CommandAsync($"MAIL FROM:<{PostfixWithDetach.Sender}>");
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<alice@example.test>")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            var half = new StringBuilder()
                .Append($"Message-Id: {messageId}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
                .Append("--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
                .Append("--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"cut.bin\"\r\n\r\n")
                .Append(Convert.ToBase64String(RandomNumberGenerator.GetBytes(300 * 1024), Base64FormattingOptions.InsertLineBreaks));
            await client.SendAsync(Encoding.ASCII.GetBytes(half.ToString()));
        }

        // The session notices the loss and ends; only then is "nothing happened" a fact.
        var deadline = DateTime.UtcNow + PostfixWithDetach.Patience;
        while (proxy.Detach.Logs.Count(l => l.Contains("connection lost in DATA", StringComparison.Ordinal)) <= sessionsBefore)
        {
            Assert.True(DateTime.UtcNow < deadline, "detach never logged the lost session:\n" + string.Join('\n', proxy.Detach.Logs.TakeLast(20)));
            await Task.Delay(50, Token);
        }

        await SendNormalMessageAsync(proxy, "after-vanished");
        Assert.True(await proxy.Postfix.QueueIsEmptyAsync(Token));
        Assert.Empty(await proxy.CopiesAsync("alice", messageId, Token));
        Assert.Empty(await proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(proxy.Detach.DataDirectory, "tmp")));
    }

    /// <summary>Sends a small mail with an attachment from another client through Postfix and checks it arrives once with a working link.</summary>
    private async Task SendNormalMessageAsync(PostfixWithDetach proxy, string tag)
    {
        var messageId = TestFiles.NewMessageId(tag);
        var file = TestFiles.WriteRandom(_scratch.FullName, tag + ".pdf", 100 * 1024);
        var result = await proxy.Swaks()
            .To(PostfixInstance.Address("alice"))
            .Helo("innocent.client.test")
            .Header("Message-Id", messageId)
            .Attach(file)
            .RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await proxy.WaitForCopiesAsync("alice", messageId, Token));
        Assert.Equal(TestFiles.Sha256(file), await proxy.Detach.FetchSha256Async(Assert.Single(mail.Links), Token));
        var records = await proxy.Detach.Vault.Index.FindByMessageIdAsync(messageId, Token);
        Assert.Equal(StoreState.Stored, Assert.Single(records).StoreState);
    }
}
