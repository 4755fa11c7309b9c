using System.Net;

namespace Detach.Smtp.Tests;

/// <summary>
/// Control characters inside arguments (a bare CR is a line end to some servers) are the client's error: a 501 for
/// that command, and the session goes on. Nothing of them reaches the backend, a reply line, or a next hop.
/// </summary>
public class MalformedArgumentTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(ServerHost Host, RawSmtpClient Client, TestBackend Backend)> StartAsync()
    {
        var backend = new TestBackend();
        ServerHost host = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.1/32")));
        return (host, await RawSmtpClient.ConnectAsync(host.EndPoint), backend);
    }

    [Fact]
    public async Task Paths_with_control_characters_get_501_and_the_transaction_goes_on()
    {
        (ServerHost host, RawSmtpClient client, TestBackend backend) = await StartAsync();
        await using (host)
        await using (client)
        {
            Assert.Equal(250, (await client.CommandAsync("EHLO client.example")).Code);
            // A bare CR anywhere in a command line is refused as a whole (500 5.5.2); other controls by the path's syntax.
            Assert.Equal((500, "5.5.2"), Codes(await client.CommandAsync("MAIL FROM:<a@example.org\rRSET\r>")));
            RawSmtpReply mail = await client.CommandAsync("MAIL FROM:<a@example.org\u001bRSET>");
            Assert.Equal((501, "5.1.7"), (mail.Code, mail.EnhancedCode));
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@example.org>")).Code);
            Assert.Equal((500, "5.5.2"), Codes(await client.CommandAsync("RCPT TO:<b@example.test\rRSET\r>")));
            RawSmtpReply rcpt = await client.CommandAsync("RCPT TO:<b@example.test\u0001RSET>");
            Assert.Equal((501, "5.1.3"), (rcpt.Code, rcpt.EnhancedCode));
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<c@example.test>")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await client.CommandAsync("Subject: x\r\n\r\nhi\r\n.")).Code);
            Assert.Equal(["c@example.test"], (await backend.Messages.Reader.ReadAsync(Ct)).Recipients);
        }
    }

    [Fact]
    public async Task Hello_and_forwarding_attributes_with_control_characters_get_501()
    {
        (ServerHost host, RawSmtpClient client, TestBackend backend) = await StartAsync();
        await using (host)
        await using (client)
        {
            Assert.Equal((501, "5.5.4"), Codes(await client.CommandAsync("EHLO client\u0007example")));
            Assert.Equal(250, (await client.CommandAsync("EHLO client.example")).Code);
            Assert.Equal((501, "5.5.4"), Codes(await client.CommandAsync("XFORWARD NAME=a+0D+0ARSET ADDR=192.0.2.1")));
            Assert.Equal((501, "5.5.4"), Codes(await client.CommandAsync("XFORWARD ADDR=not.an.address")));
            Assert.Equal(250, (await client.CommandAsync("XFORWARD NAME=ok.example ADDR=192.0.2.1")).Code);
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@example.org>")).Code);
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<c@example.test>")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await client.CommandAsync("Subject: x\r\n\r\nhi\r\n.")).Code);
            ReceivedMessage received = await backend.Messages.Reader.ReadAsync(Ct);
            Assert.Equal("ok.example", received.Forwarded["NAME"]);
            Assert.Equal("client.example", received.Helo);
        }
    }

    /// <summary>A control character in a parameter keyword used to be echoed into the reply (a CR there killed the session).</summary>
    [Fact]
    public async Task A_parameter_keyword_with_a_cr_gets_501_and_the_session_lives()
    {
        (ServerHost host, RawSmtpClient client, _) = await StartAsync();
        await using (host)
        await using (client)
        {
            await client.CommandAsync("EHLO client.example");
            Assert.Equal((501, "5.5.4"), Codes(await client.CommandAsync("MAIL FROM:<a@example.org> X\u0001Y=1")));
            Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        }
    }

    private static (int, string?) Codes(RawSmtpReply reply) => (reply.Code, reply.EnhancedCode);
}
