using System.Net;
using System.Text;

namespace Detach.Smtp.Tests;

public class SmtpSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ReceivedMessage> NextMessageAsync(TestBackend backend)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        return await backend.Messages.Reader.ReadAsync(timeout.Token);
    }

    [Fact]
    public async Task Full_transaction_delivers_unstuffed_message_with_envelope_from_commands()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);

        RawSmtpReply ehlo = await client.CommandAsync("EHLO client.example");
        Assert.Equal(250, ehlo.Code);
        Assert.Equal("mx.test", ehlo.Lines[0]);
        Assert.Contains("PIPELINING", ehlo.Lines);
        Assert.Contains("8BITMIME", ehlo.Lines);
        Assert.Contains("SMTPUTF8", ehlo.Lines);
        Assert.Contains("ENHANCEDSTATUSCODES", ehlo.Lines);
        Assert.Contains($"SIZE {host.Options.Limits.MaxMessageSize}", ehlo.Lines);
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("XFORWARD", StringComparison.Ordinal));
        Assert.DoesNotContain("STARTTLS", ehlo.Lines);

        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<sender@example.org> BODY=8BITMIME SIZE=100")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<one@example.net>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<two@example.net> NOTIFY=NEVER")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync("From: header-from@evil.example\r\nTo: header-to@evil.example\r\n\r\n..dot line\r\nend\r\n.\r\n");
        RawSmtpReply done = await client.ReadReplyAsync();
        Assert.Equal(250, done.Code);
        Assert.Equal("Ok: queued as TEST", done.Lines[0]);

        ReceivedMessage message = await NextMessageAsync(backend);
        Assert.Equal("sender@example.org", message.From);
        Assert.Equal(["one@example.net", "two@example.net"], message.Recipients);
        Assert.Equal("From: header-from@evil.example\r\nTo: header-to@evil.example\r\n\r\n.dot line\r\nend\r\n", Encoding.ASCII.GetString(message.Data));
        Assert.Equal("client.example", message.Helo);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Pipelined_batch_gets_every_reply_in_order()
    {
        var backend = new TestBackend { OnRcpt = r => r.ForwardPath.StartsWith("bad", StringComparison.Ordinal) ? new SmtpReply(550, "5.1.1", "No such user") : new SmtpReply(250, "2.1.5", "Ok") };
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync(
            "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@b>\r\nRCPT TO:<good@b>\r\nDATA\r\nSubject: p\r\n\r\nx\r\n.\r\n" +
            "MAIL FROM:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\ny\r\n.\r\nNOOP\r\nQUIT\r\n");
        int[] expected = [250, 250, 550, 250, 354, 250, 250, 250, 354, 250, 250, 221];
        foreach (int code in expected)
        {
            Assert.Equal(code, (await client.ReadReplyAsync()).Code);
        }

        Assert.Equal(["good@b"], (await NextMessageAsync(backend)).Recipients);
        Assert.Equal("y\r\n", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Commands_split_into_single_bytes_still_work()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        byte[] all = Encoding.ASCII.GetBytes("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        foreach (byte b in all)
        {
            await client.SendAsync([b]);
        }

        Assert.Equal(new[] { 250, 250, 250, 354 }, await client.ReadCodesAsync(4));
        foreach (byte b in "a\r\n..\r\n.\r\n"u8.ToArray())
        {
            await client.SendAsync([b]);
        }

        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        Assert.Equal("a\r\n.\r\n", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
    }

    [Fact]
    public async Task Bad_sequence_unknown_command_and_syntax_errors_get_their_codes()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply noHelo = await client.CommandAsync("MAIL FROM:<a@b>");
        Assert.Equal((503, "5.5.1"), (noHelo.Code, noHelo.EnhancedCode));
        Assert.Equal(501, (await client.CommandAsync("EHLO")).Code);
        Assert.Equal(250, (await client.CommandAsync("HELO c")).Code);
        Assert.Equal(503, (await client.CommandAsync("RCPT TO:<a@b>")).Code);
        Assert.Equal(503, (await client.CommandAsync("DATA")).Code);
        RawSmtpReply unknown = await client.CommandAsync("FROB x");
        Assert.Equal((500, "5.5.2"), (unknown.Code, unknown.EnhancedCode));
        Assert.Equal(501, (await client.CommandAsync("MAIL FROM:<a@b")).Code);
        Assert.Equal(555, (await client.CommandAsync("MAIL FROM:<a@b> AUTH=<>")).Code);
        Assert.Equal(552, (await client.CommandAsync($"MAIL FROM:<a@b> SIZE={host.Options.Limits.MaxMessageSize + 1}")).Code);
        Assert.Equal(553, (await client.CommandAsync("MAIL FROM:<ü@b>")).Code);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<ü@b> SMTPUTF8")).Code);
        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<a@b>")).Code);
        RawSmtpReply noRcpt = await client.CommandAsync("DATA");
        Assert.Equal(554, noRcpt.Code);
        Assert.Equal(252, (await client.CommandAsync("VRFY someone")).Code);
        Assert.Equal(214, (await client.CommandAsync("HELP")).Code);
        Assert.Equal(250, (await client.CommandAsync("RSET")).Code);
        Assert.Equal(503, (await client.CommandAsync("RCPT TO:<a@b>")).Code);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Over_long_command_line_gets_500_and_the_session_goes_on()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply reply = await client.CommandAsync("NOOP " + new string('x', 5000));
        Assert.Equal((500, "5.5.2"), (reply.Code, reply.EnhancedCode));
        Assert.Contains("too long", reply.Text, StringComparison.Ordinal);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        RawSmtpReply exact = await client.CommandAsync("NOOP " + new string('x', 505));
        Assert.Equal(250, exact.Code);
    }

    [Fact]
    public async Task Endless_command_line_is_skipped_without_buffering_it()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("NOOP ");
        byte[] junk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
        for (int i = 0; i < 32; i++)
        {
            await client.SendAsync(junk);
        }

        await client.SendAsync("\r\nNOOP\r\n");
        RawSmtpReply tooLong = await client.ReadReplyAsync();
        Assert.Equal((500, "5.5.2"), (tooLong.Code, tooLong.EnhancedCode));
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Shutdown_lets_a_message_in_progress_finish_then_sends_421()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        Assert.Equal(new[] { 250, 250, 250, 354 }, await client.ReadCodesAsync(4));
        await client.SendAsync("first half\r\n");
        Task stopped = host.StopAsync();
        await client.SendAsync("second half\r\n.\r\n");
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        RawSmtpReply closing = await client.ReadReplyAsync();
        Assert.Equal((421, "4.3.2"), (closing.Code, closing.EnhancedCode));
        Assert.Equal("first half\r\nsecond half\r\n", Encoding.ASCII.GetString((await backend.Messages.Reader.ReadAsync(Ct)).Data));
        await stopped;
    }

    [Fact]
    public async Task Size_limit_and_long_text_lines_are_answered_after_the_final_dot()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 4096);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("EHLO c");
        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync(string.Concat(Enumerable.Repeat(new string('z', 78) + "\r\n", 100)) + ".\r\n");
        RawSmtpReply tooBig = await client.ReadReplyAsync();
        Assert.Equal((552, "5.3.4"), (tooBig.Code, tooBig.EnhancedCode));
        Assert.IsType<SmtpException>(await backend.DataFailures.Reader.ReadAsync(Ct));

        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync(new string('l', 1500) + "\r\nshort\r\n.\r\n");
        Assert.Equal(500, (await client.ReadReplyAsync()).Code);

        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Backend_that_reads_nothing_still_has_data_drained_before_the_reply()
    {
        var backend = new TestBackend { OnData = (_, _) => Task.FromResult(new SmtpReply(554, "5.7.1", "Rejected by policy")) };
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("HELO c");
        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync(string.Concat(Enumerable.Repeat("MAIL FROM:<not-a-command@x>\r\n", 3000)) + ".\r\nNOOP\r\n");
        RawSmtpReply reply = await client.ReadReplyAsync();
        Assert.Equal((554, "5.7.1", "Rejected by policy"), (reply.Code, reply.EnhancedCode, reply.Text));
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Backend_exception_becomes_451_and_the_session_continues()
    {
        int calls = 0;
        var backend = new TestBackend();
        backend.OnData = async (stream, cancellationToken) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                byte[] buffer = new byte[10];
                await stream.ReadExactlyAsync(buffer, cancellationToken);
                throw new InvalidOperationException("disk on fire");
            }

            await stream.CopyToAsync(Stream.Null, cancellationToken);
            return new SmtpReply(250, "2.0.0", "second ok");
        };
        backend.OnRcpt = r => r.ForwardPath == "throw@x" ? throw new IOException("downstream gone") : new SmtpReply(250, "2.1.5", "Ok");
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("HELO c");
        await client.CommandAsync("MAIL FROM:<a@b>");
        RawSmtpReply rcptFailed = await client.CommandAsync("RCPT TO:<throw@x>");
        Assert.Equal((451, "4.3.0"), (rcptFailed.Code, rcptFailed.EnhancedCode));
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync("line one\r\nline two\r\n.\r\n");
        RawSmtpReply failed = await client.ReadReplyAsync();
        Assert.Equal((451, "4.3.0"), (failed.Code, failed.EnhancedCode));

        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync("x\r\n.\r\n");
        Assert.Equal("second ok", (await client.ReadReplyAsync()).Text);
    }

    [Fact]
    public async Task Backend_smtp_exception_and_verbatim_replies_are_written_as_is()
    {
        var backend = new TestBackend
        {
            OnMail = m => m.ReversePath == "reject@x"
                ? throw new SmtpException(new SmtpReply(550, "5.7.1", ["Sender refused", "see https://example.org/why"]))
                : null,
            OnRcpt = r => new SmtpReply(250, "2.1.5", ["Recipient <" + r.ForwardPath + "> ok", "second line"]),
        };
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("HELO c");
        RawSmtpReply refused = await client.CommandAsync("MAIL FROM:<reject@x>");
        Assert.Equal("550-5.7.1 Sender refused\r\n550 5.7.1 see https://example.org/why\r\n", refused.ToString());
        await client.CommandAsync("MAIL FROM:<a@b>");
        RawSmtpReply rcpt = await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal("250-2.1.5 Recipient <c@d> ok\r\n250 2.1.5 second line\r\n", rcpt.ToString());
    }

    [Fact]
    public async Task Too_many_errors_closes_with_421()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o => o.Limits.MaxErrors = 3);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("BAD1\r\nBAD2\r\nBAD3\r\nNOOP\r\n");
        Assert.Equal(500, (await client.ReadReplyAsync()).Code);
        Assert.Equal(500, (await client.ReadReplyAsync()).Code);
        Assert.Equal(500, (await client.ReadReplyAsync()).Code);
        RawSmtpReply closing = await client.ReadReplyAsync();
        Assert.Equal((421, "4.7.0"), (closing.Code, closing.EnhancedCode));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Idle_client_gets_421_and_is_disconnected()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o => o.Limits.IdleTimeout = TimeSpan.FromMilliseconds(200));
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply reply = await client.ReadReplyAsync();
        Assert.Equal((421, "4.4.2"), (reply.Code, reply.EnhancedCode));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_client_silent_in_data_gets_421_and_the_transaction_is_not_completed()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.DataTimeout = TimeSpan.FromMilliseconds(300));
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: half\r\n");
        for (int i = 0; i < 4; i++)
        {
            await client.ReadReplyAsync();
        }

        RawSmtpReply reply = await client.ReadReplyAsync();
        Assert.Equal((421, "4.4.2"), (reply.Code, reply.EnhancedCode));
        Assert.IsType<TimeoutException>(await backend.DataFailures.Reader.ReadAsync(Ct));
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Xforward_only_from_authorised_networks()
    {
        var backend = new TestBackend();
        await using ServerHost open = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.0/8")));
        await using ServerHost closed = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("10.0.0.0/8")));

        await using (RawSmtpClient refused = await RawSmtpClient.ConnectAsync(closed.EndPoint))
        {
            RawSmtpReply ehlo = await refused.CommandAsync("EHLO c");
            Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("XFORWARD", StringComparison.Ordinal));
            RawSmtpReply no = await refused.CommandAsync("XFORWARD ADDR=192.0.2.1");
            Assert.Equal((550, "5.7.0"), (no.Code, no.EnhancedCode));
            Assert.Equal(550, (await refused.CommandAsync("XCLIENT ADDR=192.0.2.1")).Code);
        }

        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(open.EndPoint);
        RawSmtpReply announced = await client.CommandAsync("EHLO c");
        Assert.Contains("XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE", announced.Lines);
        Assert.Equal(250, (await client.CommandAsync("XFORWARD NAME=spike.porcupine.org ADDR=168.100.189.2 PROTO=ESMTP")).Code);
        Assert.Equal(250, (await client.CommandAsync("XFORWARD HELO=spike+20x PORT=1234 SOURCE=REMOTE IDENT=[UNAVAILABLE]")).Code);
        Assert.Equal(501, (await client.CommandAsync("XFORWARD BOGUS=1")).Code);
        Assert.Equal(501, (await client.CommandAsync("XFORWARD NAME=bad+Z")).Code);
        await client.CommandAsync("MAIL FROM:<a@b>");
        Assert.Equal(503, (await client.CommandAsync("XFORWARD NAME=late")).Code);
        await client.CommandAsync("RCPT TO:<c@d>");
        await client.CommandAsync("DATA");
        await client.SendAsync("x\r\n.\r\n");
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);

        ReceivedMessage message = await NextMessageAsync(backend);
        Assert.Equal("spike.porcupine.org", message.Forwarded["NAME"]);
        Assert.Equal("168.100.189.2", message.Forwarded["ADDR"]);
        Assert.Equal("spike x", message.Forwarded["HELO"]);
        Assert.Equal("[UNAVAILABLE]", message.Forwarded["IDENT"]);
        Assert.Equal("1234", message.Forwarded["PORT"]);

        // Attributes belong to one transaction.
        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        await client.CommandAsync("DATA");
        await client.SendAsync("x\r\n.\r\n");
        await client.ReadReplyAsync();
        Assert.Empty((await NextMessageAsync(backend)).Forwarded);

        // XCLIENT restarts the session under the given identity.
        RawSmtpReply greeting = await client.CommandAsync("XCLIENT ADDR=192.0.2.7 NAME=client.example");
        Assert.Equal(220, greeting.Code);
        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<a@b>")).Code);
        SmtpSessionContext context = Assert.Single(backend.Sessions, s => s.Client.Count > 0);
        Assert.Equal("192.0.2.7", context.Client["ADDR"]);
    }

    [Fact]
    public async Task Connection_limit_refuses_with_421_at_accept()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o => o.MaxConnections = 2);
        await using RawSmtpClient first = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await using RawSmtpClient second = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await using RawSmtpClient third = await RawSmtpClient.ConnectAsync(host.EndPoint, readGreeting: false);
        RawSmtpReply refused = await third.ReadReplyAsync();
        Assert.Equal((421, "4.3.2"), (refused.Code, refused.EnhancedCode));
        Assert.True(await third.IsClosedByServerAsync());

        Assert.Equal(221, (await first.CommandAsync("QUIT")).Code);
        Assert.True(await first.IsClosedByServerAsync());
        // The freed slot is usable again (the server counts down when the session task ends).
        for (int attempt = 0; ; attempt++)
        {
            await using RawSmtpClient again = await RawSmtpClient.ConnectAsync(host.EndPoint, readGreeting: false);
            RawSmtpReply reply = await again.ReadReplyAsync();
            if (reply.Code == 220)
            {
                break;
            }

            Assert.True(attempt < 50, "slot never freed");
            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task Shutdown_sends_421_to_idle_sessions()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Equal(250, (await client.CommandAsync("EHLO c")).Code);
        Task stopped = host.StopAsync();
        RawSmtpReply reply = await client.ReadReplyAsync();
        Assert.Equal((421, "4.3.2"), (reply.Code, reply.EnhancedCode));
        Assert.True(await client.IsClosedByServerAsync());
        await stopped;
    }

    [Fact]
    public async Task Lmtp_gives_one_reply_per_accepted_recipient()
    {
        var backend = new TestBackend { Lmtp = true, OnRcpt = r => r.ForwardPath == "unknown@x" ? new SmtpReply(550, "5.1.1", "unknown") : new SmtpReply(250, "2.1.5", "Ok") };
        await using ServerHost host = ServerHost.Start(backend, o => o.Lmtp = true);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Equal(500, (await client.CommandAsync("EHLO c")).Code);
        Assert.Equal(250, (await client.CommandAsync("LHLO c")).Code);
        await client.SendAsync("MAIL FROM:<a@b>\r\nRCPT TO:<one@x>\r\nRCPT TO:<unknown@x>\r\nRCPT TO:<full@x>\r\nDATA\r\nhi\r\n.\r\n");
        Assert.Equal(new[] { 250, 250, 550, 250, 354 }, await client.ReadCodesAsync(5));
        RawSmtpReply one = await client.ReadReplyAsync();
        RawSmtpReply full = await client.ReadReplyAsync();
        Assert.Equal((250, "<one@x> Saved"), (one.Code, one.Text));
        Assert.Equal((452, "<full@x> Mailbox full"), (full.Code, full.Text));
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Client_vanishing_mid_data_never_completes_a_message()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.SendAsync("HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        for (int i = 0; i < 4; i++)
        {
            await client.ReadReplyAsync();
        }

        await client.SendAsync("Subject: cut\r\n\r\nhalf a body\r\n");
        await client.DisposeAsync();

        Exception seen = await backend.DataFailures.Reader.ReadAsync(Ct);
        Assert.IsAssignableFrom<IOException>(seen);
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }
}
