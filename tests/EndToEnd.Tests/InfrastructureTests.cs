using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests;

/// <summary>The real peers the end-to-end tests drive, proven on their own, without detach.</summary>
public sealed class InfrastructureTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task Postfix_without_proxy_delivers_attachment_to_two_mailboxes_and_refuses_unknown_recipient()
    {
        PeerBinaries.RequireSwaks();
        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.Direct, Token);
        var attachment = WriteRandomFile("report.bin", 300 * 1024);

        var result = await new Swaks(postfix.InboundPort)
            .To(PostfixInstance.Address("alice"), PostfixInstance.Address("bob"), PostfixInstance.Address("nobody"))
            .Header("Subject", "two mailboxes")
            .Attach(attachment)
            .Pipeline()
            .RunAsync(Token);

        Assert.Equal(550, result.ReplyToRecipient(PostfixInstance.Address("nobody")).Code);
        Assert.Equal(250, result.ReplyToRecipient(PostfixInstance.Address("alice")).Code);
        Assert.Equal(250, result.ReplyToRecipient(PostfixInstance.Address("bob")).Code);
        Assert.Equal(250, Assert.Single(result.DataReplies).Code);
        Assert.Equal(0, result.ExitCode);

        foreach (var mailbox in new[] { "alice", "bob" })
        {
            var message = await File.ReadAllTextAsync(
                Assert.Single(await postfix.WaitForMailAsync(mailbox, 1, Patience, Token)), Token);
            Assert.Equal(await File.ReadAllBytesAsync(attachment, Token), DecodeAttachment(message, "report.bin"));
            Assert.Contains("Subject: two mailboxes", message, StringComparison.Ordinal);
            Assert.Matches(@"Received: from client\.example\.test \(unknown \[127\.0\.0\.1\]\)", message);
        }

        await postfix.WaitForEmptyQueueAsync(Patience, Token);
        Assert.Empty(postfix.MessagesIn("carol"));
        Assert.False(Directory.Exists(postfix.MaildirFor("nobody")));
    }

    [Fact]
    public async Task Postfix_takes_a_30_MiB_attachment_and_refuses_mail_over_message_size_limit()
    {
        PeerBinaries.RequireSwaks();
        var attachment = WriteRandomFile("archive.zip", 30 * 1024 * 1024);
        await using (var postfix = await PostfixInstance.StartAsync(PostfixOptions.Direct, Token))
        {
            var result = await new Swaks(postfix.InboundPort).To(PostfixInstance.Address("bob")).Attach(attachment).RunAsync(Token);
            Assert.True(result.ExitCode == 0, result.ToString());
            var message = await File.ReadAllTextAsync(
                Assert.Single(await postfix.WaitForMailAsync("bob", 1, Patience, Token)), Token);
            Assert.Equal(await File.ReadAllBytesAsync(attachment, Token), DecodeAttachment(message, "archive.zip"));
        }

        var small = PostfixOptions.Direct with { MessageSizeLimit = 1024 * 1024 };
        await using (var postfix = await PostfixInstance.StartAsync(small, Token))
        {
            Assert.Contains("message_size_limit = 1048576\n", postfix.MainCf, StringComparison.Ordinal);
            var result = await new Swaks(postfix.InboundPort)
                .To(PostfixInstance.Address("bob"))
                .Attach(WriteRandomFile("too-big.bin", 1024 * 1024))
                .RunAsync(Token);
            var refusal = Assert.Single(result.DataReplies);
            Assert.Equal(552, refusal.Code);
            Assert.Contains("5.3.4", refusal.Text, StringComparison.Ordinal);
            await postfix.WaitForEmptyQueueAsync(Patience, Token);
            Assert.Empty(postfix.MessagesIn("bob"));
        }
    }

    [Fact]
    public async Task Postfix_proxy_session_carries_xforward_to_the_reinjection_smtpd()
    {
        PeerBinaries.RequireSwaks();
        await using var relay = new RecordingTcpRelay();
        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.WithFilter(relay.Port), Token);
        relay.TargetPort = postfix.ReinjectPort;
        var attachment = WriteRandomFile("photo.jpg", 64 * 1024);

        var result = await new Swaks(postfix.InboundPort)
            .To(PostfixInstance.Address("alice"), PostfixInstance.Address("carol"))
            .Attach(attachment, "image/jpeg")
            .RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());

        var session = Assert.Single(await relay.WaitForClosedConnectionsAsync(1, Patience, Token));
        Assert.Contains("250-XFORWARD", session.ServerToClient, StringComparison.Ordinal);
        var xforward = string.Join(' ', session.ClientLines.Where(l => l.StartsWith("XFORWARD ", StringComparison.Ordinal)));
        Assert.Contains("ADDR=127.0.0.1", xforward, StringComparison.Ordinal);
        Assert.Contains("HELO=client.example.test", xforward, StringComparison.Ordinal);
        var clientPort = Regex.Match(xforward, @"\bPORT=(\d+)").Groups[1].Value;
        Assert.NotEmpty(clientPort);
        Assert.Contains("RCPT TO:<carol@example.test>", session.ClientLines);

        foreach (var mailbox in new[] { "alice", "carol" })
        {
            var message = await File.ReadAllTextAsync(
                Assert.Single(await postfix.WaitForMailAsync(mailbox, 1, Patience, Token)), Token);
            Assert.Equal(await File.ReadAllBytesAsync(attachment, Token), DecodeAttachment(message, "photo.jpg"));

            // The before-filter smtpd names the client in its Received header; the after-filter one names the proxy hop.
            Assert.Matches(@"Received: from client\.example\.test \(unknown \[127\.0\.0\.1\]\)\n\tby mx\.example\.test \(Postfix\) with ESMTP;", message);
            Assert.Matches(@"Received: from mx\.example\.test \(unknown \[127\.0\.0\.1\]\)\n\tby mx\.example\.test \(Postfix\) with ESMTP id ", message);
        }

        // The after-filter smtpd took the XFORWARD attributes: it logs the original client (swaks' port)
        // next to the proxy connection it actually came in on.
        var queued = Regex.Match(
            await postfix.WaitForLogAsync("orig_client=", Patience, Token),
            @"client=unknown\[127\.0\.0\.1\]:(\d+), orig_client=unknown\[127\.0\.0\.1\]:(\d+)");
        Assert.True(queued.Success, "no client=/orig_client= pair in the log");
        Assert.Equal(clientPort, queued.Groups[2].Value);
        Assert.NotEqual(clientPort, queued.Groups[1].Value);
        Assert.Contains("xforward=1", await postfix.WaitForLogAsync("ehlo=1 xforward=1", Patience, Token), StringComparison.Ordinal);

        await postfix.WaitForEmptyQueueAsync(Patience, Token);
    }

    [Fact]
    public async Task Postfix_proxy_pointing_at_closed_port_tempfails_and_queues_nothing()
    {
        PeerBinaries.RequireSwaks();
        var closedPort = FreePort.Next();
        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.WithFilter(closedPort), Token);

        var result = await new Swaks(postfix.InboundPort).To(PostfixInstance.Address("alice")).RunAsync(Token);

        var reply = Assert.Single(result.DataReplies);
        Assert.Equal(451, reply.Code);
        Assert.NotEqual(0, result.ExitCode);
        await postfix.WaitForLogAsync($"127.0.0.1:{closedPort}", Patience, Token);
        await postfix.WaitForEmptyQueueAsync(Patience, Token);
        Assert.Empty(postfix.MessagesIn("alice"));
    }

    [Fact]
    public async Task Dovecot_lmtp_delivers_per_recipient_and_imap_reads_the_message_back()
    {
        PeerBinaries.RequireSwaks();
        await using var dovecot = await DovecotInstance.StartAsync(Token);
        var attachment = WriteRandomFile("scan.pdf", 200 * 1024);

        var result = await new Swaks(dovecot.LmtpPort)
            .Lmtp()
            .To("alice@example.test", "nobody@example.test", "bob@example.test")
            .Header("Subject", "over lmtp")
            .Attach(attachment, "application/pdf")
            .Pipeline()
            .RunAsync(Token);

        // The passwd-file userdb refuses unknown users per recipient; LMTP then answers once per accepted one.
        var refused = result.ReplyToRecipient("nobody@example.test");
        Assert.Equal(550, refused.Code);
        Assert.StartsWith("5.1.1", refused.Text, StringComparison.Ordinal);
        Assert.Equal(250, result.ReplyToRecipient("alice@example.test").Code);
        Assert.Equal(250, result.ReplyToRecipient("bob@example.test").Code);
        Assert.Equal([250, 250], result.DataReplies.Select(r => r.Code));
        Assert.Contains("<alice@example.test>", result.DataReplies[0].Text, StringComparison.Ordinal);
        Assert.Contains("<bob@example.test>", result.DataReplies[1].Text, StringComparison.Ordinal);

        foreach (var mailbox in new[] { "alice", "bob" })
        {
            var message = Assert.Single(await dovecot.FetchAllAsync(mailbox, Token));
            var text = Encoding.UTF8.GetString(message);
            Assert.Contains("Subject: over lmtp", text, StringComparison.Ordinal);
            Assert.StartsWith("Return-Path: <sender@client.test>\r\n", text, StringComparison.Ordinal);
            Assert.Matches(@"Received: from client\.example\.test \(\[127\.0\.0\.1\]\)\r\n\tby imap\.example\.test with LMTP", text);
            Assert.Equal(await File.ReadAllBytesAsync(attachment, Token), DecodeAttachment(text, "scan.pdf"));

            // IMAP serves the stored file with CRLF line ends: its size is the W= in the Maildir name.
            var stored = Path.GetFileName(Assert.Single(dovecot.MessagesIn(mailbox)));
            Assert.Contains($",W={message.Length}", stored, StringComparison.Ordinal);
        }

        Assert.Empty(dovecot.MessagesIn("carol"));
        using var imap = await dovecot.OpenInboxAsync("carol", Token);
        Assert.Equal(0, imap.Inbox.Count);
        await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => dovecot.OpenInboxAsync("alice", "wrong", Token));
    }

    [Fact]
    public async Task Postfix_delivers_to_dovecot_over_lmtp_as_docs_describe()
    {
        PeerBinaries.RequireSwaks();
        await using var dovecot = await DovecotInstance.StartAsync(Token);
        var options = PostfixOptions.Direct with
        {
            MainSettings = new Dictionary<string, string> { ["virtual_transport"] = $"lmtp:inet:127.0.0.1:{dovecot.LmtpPort}" },
        };
        await using var postfix = await PostfixInstance.StartAsync(options, Token);

        var result = await new Swaks(postfix.InboundPort)
            .To(PostfixInstance.Address("alice"), PostfixInstance.Address("carol"))
            .Header("Subject", "via postfix lmtp")
            .RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());
        await postfix.WaitForEmptyQueueAsync(Patience, Token);

        foreach (var mailbox in new[] { "alice", "carol" })
        {
            var text = Encoding.UTF8.GetString(Assert.Single(await dovecot.FetchAllAsync(mailbox, Token)));
            Assert.Contains("Subject: via postfix lmtp", text, StringComparison.Ordinal);
            Assert.Contains("by mx.example.test (Postfix) with ESMTP", text, StringComparison.Ordinal);
        }

        Assert.Empty(postfix.MessagesIn("alice"));
        Assert.Contains("relay=127.0.0.1[127.0.0.1]", await postfix.WaitForLogAsync("status=sent", Patience, Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postfix_defers_while_the_lmtp_hop_is_down_and_flush_delivers_once_it_is_up()
    {
        PeerBinaries.RequireSwaks();

        // Until it has a target, the relay drops every connection: an LMTP next hop that is down.
        await using var relay = new RecordingTcpRelay();
        var options = PostfixOptions.Direct with
        {
            MainSettings = new Dictionary<string, string> { ["virtual_transport"] = $"lmtp:inet:127.0.0.1:{relay.Port}" },
        };
        await using var postfix = await PostfixInstance.StartAsync(options, Token);

        var result = await new Swaks(postfix.InboundPort).To(PostfixInstance.Address("alice")).RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("to=<alice@example.test>", await postfix.WaitForLogAsync("status=deferred", Patience, Token), StringComparison.Ordinal);
        Assert.False(await postfix.QueueIsEmptyAsync(Token));

        await using var dovecot = await DovecotInstance.StartAsync(Token);
        relay.TargetPort = dovecot.LmtpPort;
        await postfix.FlushAsync(Token);

        await postfix.WaitForEmptyQueueAsync(Patience, Token);
        Assert.Single(await dovecot.WaitForMailAsync("alice", 1, Patience, Token));
    }

    [Fact]
    public async Task Smtp_source_loads_smtp_sink_and_postfix()
    {
        await using var sink = await SmtpSink.StartAsync(keepMessages: true, Token);
        var toSink = await SmtpSource.RunAsync(
            sink.Port,
            new SmtpSourceOptions { Messages = 12, Sessions = 3, MessageLength = 4096, To = "bob@example.test" },
            Patience,
            Token);
        Assert.True(toSink.Succeeded, toSink.ToString());
        Assert.Equal(12, sink.MessageFiles.Count);
        var dumped = await File.ReadAllTextAsync(sink.MessageFiles[0], Token);
        Assert.Contains("X-Rcpt-Args: <bob@example.test>", dumped, StringComparison.Ordinal);

        await using var postfix = await PostfixInstance.StartAsync(PostfixOptions.Direct, Token);
        var toPostfix = await SmtpSource.RunAsync(
            postfix.InboundPort,
            new SmtpSourceOptions { Messages = 10, Sessions = 2, ReuseConnections = true, To = "carol@example.test" },
            Patience,
            Token);
        Assert.True(toPostfix.Succeeded, toPostfix.ToString());
        Assert.Equal(10, (await postfix.WaitForMailAsync("carol", 10, Patience, Token)).Count);
        await postfix.WaitForEmptyQueueAsync(Patience, Token);
    }

    [Fact]
    public void Free_ports_are_distinct_and_bindable_and_never_where_outgoing_connections_take_theirs()
    {
        // The servers these tests start are told their port before they bind it; one the kernel also gives outgoing
        // connections (smtp-source, Postfix, the clients here) was taken in between once under a busy run.
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(int.Parse).ToArray();
        var ports = FreePort.Next(20).Concat(Enumerable.Range(0, 20).Select(_ => FreePort.Next())).ToArray();

        Assert.Equal(ports.Length, ports.Distinct().Count());
        Assert.All(ports, port => Assert.False(port >= range[0] && port <= range[1], $"{port} is in the ephemeral range {range[0]}-{range[1]}"));
        Assert.All(ports, port => Assert.True(FreePort.IsFree(port), $"{port} is taken"));
    }

    [Fact]
    public void Docs_page_shows_the_committed_postfix_fragments_exactly()
    {
        var docsPath = Path.Combine(AppContext.BaseDirectory, "docs", "postfix.md");
        if (!File.Exists(docsPath))
        {
            docsPath = Path.Combine(RepositoryPaths.Root, "docs", "postfix.md");
        }

        var docs = File.ReadAllText(docsPath);
        foreach (var fragment in new[] { PostfixTemplates.ReadMasterFragment(), PostfixTemplates.ReadMainFragment() })
        {
            var rendered = PostfixTemplates.RenderSubset(fragment, PostfixTemplates.ProductionValues);
            Assert.Contains("```\n" + rendered + "```\n", docs, StringComparison.Ordinal);
        }

        foreach (var (name, value) in PostfixTemplates.ProductionValues)
        {
            Assert.Contains($"| `{{{{{name}}}}}` | `{value}` |", docs, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Postfix_instance_configuration_passes_postfix_check_and_takes_overrides()
    {
        PeerBinaries.RequireSwaks();
        var options = new PostfixOptions
        {
            FilterPort = FreePort.Next(),
            Mailboxes = ["dave"],
            MainSettings = new Dictionary<string, string> { ["smtpd_banner"] = "$myhostname ESMTP detach-e2e" },
        };
        await using var postfix = await PostfixInstance.StartAsync(options, Token);

        var check = await postfix.CheckAsync(Token);
        Assert.True(check.Succeeded, check.ToString());
        var warnings = (await postfix.ReadLogAsync(Token)).Split('\n').Where(l => l.Contains("warning:", StringComparison.Ordinal));
        Assert.Empty(warnings);

        Assert.Contains($"  -o smtpd_proxy_filter=127.0.0.1:{options.FilterPort}\n", postfix.MasterCf, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{postfix.ReinjectPort} inet", postfix.MasterCf, StringComparison.Ordinal);
        Assert.Single(postfix.MainCf.Split('\n'), l => l.StartsWith("smtpd_banner", StringComparison.Ordinal));
        Assert.Equal(["dave", "postmaster"], postfix.Mailboxes);

        // The after-filter smtpd accepts mail for a local user directly, as detach will hand it over.
        var result = await new Swaks(postfix.ReinjectPort).To(PostfixInstance.Address("dave")).RunAsync(Token);
        Assert.Equal("mx.example.test ESMTP detach-e2e", result.Exchanges[0].Text);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Single(await postfix.WaitForMailAsync("dave", 1, Patience, Token));
    }

    private string WriteRandomFile(string name, int size)
    {
        var path = Path.Combine(_scratch.FullName, name);
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(size));
        return path;
    }

    /// <summary>The decoded body of the base64 part whose filename is <paramref name="fileName"/>.</summary>
    private static byte[] DecodeAttachment(string message, string fileName)
    {
        message = message.Replace("\r\n", "\n", StringComparison.Ordinal);
        var at = message.IndexOf($"filename=\"{fileName}\"", StringComparison.Ordinal);
        Assert.True(at >= 0, $"No part named {fileName} in:\n{message[..Math.Min(message.Length, 2000)]}");
        var bodyStart = message.IndexOf("\n\n", at, StringComparison.Ordinal) + 2;
        var bodyEnd = message.IndexOf("\n--", bodyStart, StringComparison.Ordinal);

        // Convert.FromBase64String skips the line breaks between base64 lines.
        return Convert.FromBase64String(message[bodyStart..bodyEnd]);
    }
}
