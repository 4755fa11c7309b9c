using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>Our server driven by swaks, our client against Postfix's smtp-sink.</summary>
public class ExternalToolTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Runs swaks to its end: its exit code and its whole transcript (stdout, then stderr).</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(string swaks, IEnumerable<string> arguments)
    {
        var result = await ChildProcess.RunAsync(swaks, arguments, TimeSpan.FromMinutes(2), Ct);
        return (result.ExitCode, result.StandardOutput + result.StandardError);
    }

    private static async Task<ReceivedMessage> NextMessageAsync(TestBackend backend)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        return await backend.Messages.Reader.ReadAsync(timeout.Token);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Swaks_delivers_an_attachment_with_and_without_pipelining(bool pipelining)
    {
        string swaks = InstalledPrograms.Require("swaks", "swaks");
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        string attachment = Path.GetTempFileName();
        try
        {
            byte[] content = RandomNumberGenerator.GetBytes(300_000);
            await File.WriteAllBytesAsync(attachment, content, Ct);
            List<string> args = ["--server", $"127.0.0.1:{host.EndPoint.Port}", "--ehlo", "swaks.test", "--from", "sender@example.org",
                "--to", "one@example.net,two@example.net", "--attach", attachment, "--header", "Subject: swaks attachment"];
            if (pipelining)
            {
                args.Add("--pipeline");
            }

            (int exit, string output) = await RunAsync(swaks, args);
            Assert.True(exit == 0, output);
            Assert.Contains("250 2.0.0 Ok: queued as TEST", output, StringComparison.Ordinal);

            ReceivedMessage message = await NextMessageAsync(backend);
            Assert.Equal("sender@example.org", message.From);
            Assert.Equal(["one@example.net", "two@example.net"], message.Recipients);
            Assert.Equal("swaks.test", message.Helo);
            string text = Encoding.ASCII.GetString(message.Data);
            Assert.Contains("Subject: swaks attachment\r\n", text, StringComparison.Ordinal);
            Assert.EndsWith("\r\n", text, StringComparison.Ordinal);
            Assert.Equal(content, ExtractBase64Part(text));
        }
        finally
        {
            File.Delete(attachment);
        }
    }

    /// <summary>The base64 body of the part with Content-Transfer-Encoding: BASE64 (as swaks writes it).</summary>
    private static byte[] ExtractBase64Part(string message)
    {
        int header = message.IndexOf("Content-Transfer-Encoding: BASE64\r\n", StringComparison.OrdinalIgnoreCase);
        Assert.True(header >= 0, "no base64 part");
        int start = message.IndexOf("\r\n\r\n", header, StringComparison.Ordinal) + 4;
        int end = message.IndexOf("\r\n--", start, StringComparison.Ordinal);
        return Convert.FromBase64String(message[start..end].Replace("\r\n", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Swaks_message_with_dot_lines_arrives_unchanged()
    {
        string swaks = InstalledPrograms.Require("swaks", "swaks");
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        string data = Path.GetTempFileName();
        try
        {
            const string Message = "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n.\r\nend\r\n";
            await File.WriteAllTextAsync(data, Message, Ct);
            (int exit, string output) = await RunAsync(swaks, ["--server", $"127.0.0.1:{host.EndPoint.Port}", "--from", "a@b.example", "--to", "c@d.example", "--data", "@" + data, "--pipeline"]);
            Assert.True(exit == 0, output);
            // swaks sends its data, then "\r\n.\r\n" even when the data already ends in CRLF: one empty line more.
            Assert.Equal(Message + "\r\n", Encoding.ASCII.GetString((await NextMessageAsync(backend)).Data));
        }
        finally
        {
            File.Delete(data);
        }
    }

    [Fact]
    public async Task Swaks_uses_starttls()
    {
        string swaks = InstalledPrograms.Require("swaks", "swaks");
        using X509Certificate2 certificate = StartTlsTests.CreateCertificate();
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Certificate = certificate);
        (int exit, string output) = await RunAsync(swaks, ["--server", $"127.0.0.1:{host.EndPoint.Port}", "--from", "a@b.example", "--to", "c@d.example", "--tls"]);
        if (output.Contains("TLS not available", StringComparison.Ordinal))
        {
            Assert.Skip("This swaks has no TLS support (Net::SSLeay missing).");
        }

        Assert.True(exit == 0, output);
        Assert.Contains("TLS started", output, StringComparison.Ordinal);
        await NextMessageAsync(backend);
        Assert.True(Assert.Single(backend.Sessions).IsTls);
    }

    [Fact]
    public async Task Swaks_size_over_limit_is_refused_with_552()
    {
        string swaks = InstalledPrograms.Require("swaks", "swaks");
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 10_000);
        string attachment = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(attachment, RandomNumberGenerator.GetBytes(50_000), Ct);
            (int exit, string output) = await RunAsync(swaks, ["--server", $"127.0.0.1:{host.EndPoint.Port}", "--from", "a@b.example", "--to", "c@d.example", "--attach", attachment]);
            Assert.NotEqual(0, exit);
            Assert.Contains("552 5.3.4", output, StringComparison.Ordinal);
            Assert.False(backend.Messages.Reader.TryRead(out _));
        }
        finally
        {
            File.Delete(attachment);
        }
    }

    [Fact]
    public async Task Client_relays_to_smtp_sink_with_xforward_and_parameters()
    {
        await using SmtpSink sink = await SmtpSink.StartAsync(keepMessages: true, Ct);
        var options = new SmtpRelayClientOptions { ClientName = "detach.test" };
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, sink.Port), options, Ct);
        Assert.Equal(250, (await client.HelloAsync(Ct)).Code);
        Assert.True(client.Capabilities.Pipelining);
        Assert.True(client.Capabilities.EightBitMime);
        Assert.NotEmpty(client.Capabilities.XforwardAttributes);
        Dictionary<string, string?> identity = new() { ["NAME"] = "client.example.org", ["ADDR"] = "192.0.2.9", ["HELO"] = "client helo" };
        Assert.Equal(250, (await client.MailAsync(new MailFromCommand("sender@example.org", "BODY=8BITMIME", []), identity, Ct)).Code);
        Assert.Equal(250, (await client.RcptAsync(new RcptToCommand("one@example.net", "", []), Ct)).Code);
        Assert.Equal(250, (await client.RcptAsync(new RcptToCommand("two@example.net", "", []), Ct)).Code);
        const string Message = "Subject: sink\r\n\r\n.\r\n..double\r\nbody line\r\n.\r\nlast";
        SmtpReply done = Assert.Single(await client.DataAsync(new MemoryStream(Encoding.ASCII.GetBytes(Message)), Ct));
        Assert.Equal(250, done.Code);
        await client.QuitAsync(Ct);

        string dump = Assert.Single(await sink.WaitForMessagesAsync(1, TimeSpan.FromSeconds(30), Ct));
        Assert.Contains("X-Mail-Args: <sender@example.org> BODY=8BITMIME", dump, StringComparison.Ordinal);
        Assert.Contains("X-Rcpt-Args: <one@example.net>", dump, StringComparison.Ordinal);
        Assert.Contains("X-Rcpt-Args: <two@example.net>", dump, StringComparison.Ordinal);
        Assert.Contains("X-Helo-Args: detach.test", dump, StringComparison.Ordinal);
        string body = dump[(dump.IndexOf("Subject: sink", StringComparison.Ordinal))..].ReplaceLineEndings("\r\n");
        // smtp-sink writes the dump with LF line ends and one newline after the message.
        Assert.Equal("Subject: sink\r\n\r\n.\r\n..double\r\nbody line\r\n.\r\nlast\r\n\r\n", body);
    }

    [Fact]
    public async Task Client_gets_per_recipient_replies_from_lmtp_smtp_sink()
    {
        await using SmtpSink sink = await SmtpSink.StartAsync(keepMessages: false, Ct, lmtp: true);
        var options = new SmtpRelayClientOptions { ClientName = "detach.test", Lmtp = true };
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, sink.Port), options, Ct);
        Assert.Equal(250, (await client.HelloAsync(Ct)).Code);
        await client.MailAsync(new MailFromCommand("sender@example.org", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("one@example.net", "", []), Ct);
        await client.RcptAsync(new RcptToCommand("two@example.net", "", []), Ct);
        await client.RcptAsync(new RcptToCommand("three@example.net", "", []), Ct);
        IReadOnlyList<SmtpReply> replies = await client.DataAsync(new MemoryStream("Subject: lmtp\r\n\r\nhi\r\n"u8.ToArray()), Ct);
        Assert.Equal(3, replies.Count);
        Assert.All(replies, r => Assert.Equal(250, r.Code));
        Assert.Equal(250, (await client.NoopAsync(Ct)).Code);
    }
}
