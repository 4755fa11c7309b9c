using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>BDAT (RFC 3030 CHUNKING): chunks are counted octets, never dot-unstuffed, and always consumed.</summary>
public class BdatTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ReceivedMessage> NextMessageAsync(TestBackend backend)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        return await backend.Messages.Reader.ReadAsync(timeout.Token);
    }

    private static async Task<RawSmtpClient> ReadyAsync(ServerHost host, params string[] recipients)
    {
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply ehlo = await client.CommandAsync("EHLO client.example");
        Assert.Contains("CHUNKING", ehlo.Lines);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@example.org>")).Code);
        foreach (string recipient in recipients.Length == 0 ? ["b@example.net"] : recipients)
        {
            await client.CommandAsync($"RCPT TO:<{recipient}>");
        }

        return client;
    }

    /// <summary>A BDAT command with its octets, which end where the count says (no CRLF added).</summary>
    private static async Task<RawSmtpReply> ChunkAsync(RawSmtpClient client, string commandAndOctets)
    {
        await client.SendAsync(commandAndOctets);
        return await client.ReadReplyAsync();
    }

    [Fact]
    public async Task Chunks_pipelined_in_one_write_make_one_message_byte_for_byte()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await ReadyAsync(host);

        // Dots at line starts and a lone "." line are data here, and a bare LF stays a bare LF.
        string first = "Subject: chunks\r\n\r\n.leading dot\r\n.\r\n";
        string second = "bare\nlf and no final line break";
        await client.SendAsync($"BDAT {first.Length}\r\n{first}BDAT {second.Length} LAST\r\n{second}NOOP\r\n");

        RawSmtpReply chunk = await client.ReadReplyAsync();
        Assert.Equal(250, chunk.Code);
        Assert.Contains($"{first.Length} octets", chunk.Text, StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 Ok: queued as TEST\r\n", (await client.ReadReplyAsync()).ToString());
        Assert.Equal(250, (await client.ReadReplyAsync()).Code); // NOOP
        Assert.Equal(first + second, Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
    }

    [Fact]
    public async Task Chunks_sent_one_at_a_time_and_an_empty_last_chunk()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await ReadyAsync(host);
        Assert.Equal(250, (await ChunkAsync(client, "BDAT 6\r\nhello\n")).Code);
        Assert.Equal(250, (await ChunkAsync(client, "BDAT 7\r\nworld\r\n")).Code);
        Assert.Equal(250, (await client.CommandAsync("BDAT 0 LAST")).Code);
        Assert.Equal("hello\nworld\r\n", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));

        // The transaction is over: another BDAT needs a new MAIL, and its octets are still read, not run.
        await client.SendAsync("BDAT 6 LAST\r\nQUIT\r\n");
        Assert.Equal(503, (await client.ReadReplyAsync()).Code);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task A_refused_bdat_still_consumes_its_octets()
    {
        var backend = new TestBackend { OnRcpt = _ => new SmtpReply(550, "5.1.1", "No such user") };
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await ReadyAsync(host, "nobody@example.net");
        string smuggled = "RSET\r\nMAIL FROM:<evil@example.org>\r\n";
        await client.SendAsync($"BDAT {smuggled.Length} LAST\r\n{smuggled}NOOP\r\n");
        Assert.Equal(554, (await client.ReadReplyAsync()).Code);
        Assert.Equal(250, (await client.ReadReplyAsync()).Code); // NOOP; the smuggled commands were never run
        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<again@example.org>")).Code); // the first MAIL still stands
    }

    [Fact]
    public async Task A_refused_bdat_whose_octets_never_come_times_out_with_421()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o => o.Limits.DataTimeout = TimeSpan.FromMilliseconds(200));
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("EHLO client.example");
        await client.SendAsync("BDAT 100 LAST\r\nonly part");
        Assert.Equal(421, (await client.ReadReplyAsync()).Code);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_message_over_the_size_limit_is_read_to_its_end_and_refused()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 1024);
        await using RawSmtpClient client = await ReadyAsync(host);
        string chunk = new('x', 800);
        await client.SendAsync($"BDAT 800\r\n{chunk}BDAT 800\r\n{chunk}BDAT 800 LAST\r\n{chunk}");
        int[] codes = await client.ReadCodesAsync(3);
        Assert.Equal(250, codes[0]);
        Assert.Equal(552, codes[^1]);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Rset_between_chunks_abandons_the_message_and_the_session_goes_on()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await ReadyAsync(host);
        Assert.Equal(250, (await ChunkAsync(client, "BDAT 5\r\nfirst")).Code);
        Assert.Equal(250, (await client.CommandAsync("RSET")).Code);
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));

        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@example.org>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<b@example.net>")).Code);
        Assert.Equal(250, (await ChunkAsync(client, "BDAT 6 LAST\r\nsecond")).Code);
        Assert.Equal("second", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT ten LAST")]
    [InlineData("BDAT 5 FIRST")]
    [InlineData("BDAT -5")]
    public async Task A_count_that_cannot_be_read_closes_the_connection(string command)
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await ReadyAsync(host);
        Assert.Equal(501, (await client.CommandAsync(command)).Code);
        Assert.Equal(421, (await client.ReadReplyAsync()).Code);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_client_gone_between_chunks_leaves_no_message()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        RawSmtpClient client = await ReadyAsync(host);
        Assert.Equal(250, (await ChunkAsync(client, "BDAT 5\r\nfirst")).Code);
        await client.SendAsync("BDAT 100 LAST\r\nonly part");
        client.Close();
        Assert.IsAssignableFrom<IOException>(await backend.DataFailures.Reader.ReadAsync(Ct));
        Assert.False(await backend.TransactionsEnded.Reader.ReadAsync(Ct));
        Assert.False(backend.Messages.Reader.TryRead(out _));
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Lmtp_bdat_last_gets_one_reply_per_recipient()
    {
        var backend = new TestBackend { Lmtp = true };
        await using ServerHost host = ServerHost.Start(backend, o => o.Lmtp = true);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Contains("CHUNKING", (await client.CommandAsync("LHLO client.example")).Lines);
        await client.CommandAsync("MAIL FROM:<a@example.org>");
        await client.CommandAsync("RCPT TO:<one@example.net>");
        await client.CommandAsync("RCPT TO:<full@example.net>");
        await client.SendAsync("BDAT 3\r\nabcBDAT 3 LAST\r\ndef");
        int[] codes = await client.ReadCodesAsync(3);
        Assert.Equal(new[] { 250, 250, 452 }, codes);
        Assert.Equal("abcdef", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
    }
}
