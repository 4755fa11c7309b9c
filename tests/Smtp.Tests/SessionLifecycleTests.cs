namespace Detach.Smtp.Tests;

public class SessionLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Session_timeout_closes_even_a_busy_client_with_421()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend(), o =>
        {
            o.Limits.SessionTimeout = TimeSpan.FromMilliseconds(500);
            o.Limits.IdleTimeout = TimeSpan.FromMinutes(5);
        });
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply reply;
        do
        {
            // Keep the session busy: it never idles long enough for the idle timeout.
            reply = await client.CommandAsync("NOOP");
        }
        while (reply.Code == 250);

        Assert.Equal((421, "4.4.2"), (reply.Code, reply.EnhancedCode));
        Assert.Contains("session timeout", reply.Text, StringComparison.Ordinal);
        Assert.True(await client.IsClosedByServerAsync());
    }

    private sealed class PickyBackend : ISmtpBackend
    {
        public List<string> Seen { get; } = [];

        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult<ISmtpSessionHandler>(new Handler(this, context));

        private sealed class Handler(PickyBackend owner, SmtpSessionContext context) : ISmtpSessionHandler
        {
            public ValueTask<SmtpReply?> HelloAsync(HelloCommand hello, CancellationToken cancellationToken)
            {
                owner.Seen.Add($"{hello.Verb} {hello.Domain}");
                return ValueTask.FromResult(hello.Domain == "bad.example" ? new SmtpReply(550, "5.7.1", "Go away") : null);
            }

            public ValueTask<SmtpReply?> ForwardAsync(SmtpSessionContext ctx, CancellationToken cancellationToken)
            {
                owner.Seen.Add("forward " + string.Join(",", ctx.Forwarded.Keys.Order()));
                return ValueTask.FromResult<SmtpReply?>(ctx.Forwarded.ContainsKey("IDENT") ? new SmtpReply(451, "4.3.0", "Next hop said no") : null);
            }

            public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken) =>
                ValueTask.FromResult(MailResult.Reject(new SmtpReply(451, "4.7.1", $"Greylisted, HELO was {context.HeloName}")));

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Handler_sees_and_can_refuse_hello_and_xforward()
    {
        var backend = new PickyBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.AuthorizedForwarders.Add(System.Net.IPNetwork.Parse("127.0.0.1/32")));
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        RawSmtpReply refused = await client.CommandAsync("EHLO bad.example");
        Assert.Equal((550, "5.7.1"), (refused.Code, refused.EnhancedCode));
        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<a@b>")).Code);
        Assert.Equal(250, (await client.CommandAsync("EHLO good.example")).Code);
        Assert.Equal(250, (await client.CommandAsync("XFORWARD ADDR=192.0.2.1")).Code);
        Assert.Equal(451, (await client.CommandAsync("XFORWARD IDENT=x")).Code);
        RawSmtpReply mail = await client.CommandAsync("MAIL FROM:<a@b>");
        Assert.Equal("451 4.7.1 Greylisted, HELO was good.example\r\n", mail.ToString());
        Assert.Equal(503, (await client.CommandAsync("RCPT TO:<c@d>")).Code);
        Assert.Equal(["EHLO bad.example", "EHLO good.example", "forward ADDR", "forward ADDR,IDENT"], backend.Seen);
    }

    [Fact]
    public void Limits_and_options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpLimits { MaxCommandLineLength = 100 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpLimits { MaxTextLineLength = 80 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpLimits { IdleTimeout = TimeSpan.Zero }.Validate());
        new SmtpLimits { MaxTextLineLength = 0 }.Validate();
        Assert.Throws<ArgumentException>(() => new SmtpServerOptions { ServerName = "two words" }.Validate());
        Assert.Throws<ArgumentException>(() => new SmtpServer(new SmtpServerOptions(), new TestBackend()));
    }
}

public class DualModeTests
{
    [Fact]
    public async Task Ipv6_any_listener_serves_ipv4_clients_and_unmaps_their_address()
    {
        if (!System.Net.Sockets.Socket.OSSupportsIPv6)
        {
            Assert.Skip("No IPv6 on this machine.");
        }

        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o =>
        {
            o.EndPoints.Clear();
            o.EndPoints.Add(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, 0));
            o.AuthorizedForwarders.Add(System.Net.IPNetwork.Parse("127.0.0.0/8"));
        });
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, host.EndPoint.Port));
        RawSmtpReply ehlo = await client.CommandAsync("EHLO c");
        Assert.Contains(ehlo.Lines, l => l.StartsWith("XFORWARD", StringComparison.Ordinal));
    }
}
