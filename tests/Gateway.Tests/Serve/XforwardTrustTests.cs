using System.Collections.Concurrent;
using System.Net;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// Smtp:AuthorizedXforwardNetworks narrowed to 127.0.0.1/32: a client at 127.0.0.2 cannot claim another identity
/// with XFORWARD or XCLIENT, and the next hop records the real client.
/// </summary>
public sealed class XforwardTrustTests : IAsyncLifetime
{
    private static readonly IPAddress Untrusted = IPAddress.Parse("127.0.0.2");
    private readonly DataFolder _data = new();
    private readonly IdentityRecorder _recorder = new();
    private SmtpServer _nextHop = null!;
    private WebApplication _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var options = new SmtpServerOptions { ServerName = "after-filter.test" };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        options.AuthorizedForwarders.Add(IPNetwork.Parse("127.0.0.1/32"));
        _nextHop = new SmtpServer(options, _recorder);
        _nextHop.Start();
        _ = _nextHop.RunAsync(CancellationToken.None);
        _app = await DetachHost.BuildAsync(_data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0",
            $"Smtp:NextHop=smtp://127.0.0.1:{((IPEndPoint)_nextHop.LocalEndPoints[0]).Port}", "Smtp:NextHopPoolSize=0",
            "Smtp:AuthorizedXforwardNetworks:0=127.0.0.1/32"), Ct);
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        await _nextHop.DisposeAsync();
        _data.Dispose();
    }

    private IPEndPoint Front => (IPEndPoint)_app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    private static async Task SendMessageAsync(RawSmtpClient smtp)
    {
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<bob@example.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await smtp.SendDataAsync("Subject: who\r\n\r\nhello\r\n"u8.ToArray())).Code);
    }

    [Fact]
    public async Task A_client_outside_the_narrowed_network_cannot_forge_its_identity()
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(Front, from: Untrusted);
        var ehlo = (await smtp.CommandAsync("EHLO client.example.test")).ToString();
        Assert.StartsWith("250", ehlo, StringComparison.Ordinal);
        Assert.DoesNotContain("XFORWARD", ehlo, StringComparison.Ordinal);
        Assert.DoesNotContain("XCLIENT", ehlo, StringComparison.Ordinal);

        Assert.StartsWith("550 5.7.0", (await smtp.CommandAsync("XFORWARD ADDR=6.6.6.6 NAME=trusted.bank.test")).ToString(), StringComparison.Ordinal);
        Assert.StartsWith("550 5.7.0", (await smtp.CommandAsync("XCLIENT ADDR=6.6.6.6 NAME=trusted.bank.test")).ToString(), StringComparison.Ordinal);
        await SendMessageAsync(smtp);

        var identity = Assert.Single(_recorder.Identities);
        Assert.Equal("127.0.0.2", identity["ADDR"]);
        Assert.DoesNotContain("trusted.bank.test", identity.Values);
        Assert.DoesNotContain("6.6.6.6", identity.Values);
    }

    [Fact]
    public async Task The_authorised_forwarder_still_forwards()
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(Front, from: IPAddress.Loopback);
        Assert.Contains("XFORWARD", (await smtp.CommandAsync("EHLO postfix.example.test")).ToString(), StringComparison.Ordinal);
        Assert.Equal(250, (await smtp.CommandAsync("XFORWARD ADDR=192.0.2.7 NAME=client.example.org")).Code);
        await SendMessageAsync(smtp);

        var identity = Assert.Single(_recorder.Identities);
        Assert.Equal("192.0.2.7", identity["ADDR"]);
        Assert.Equal("client.example.org", identity["NAME"]);
    }

    /// <summary>A next hop that records the XFORWARD attributes each transaction came with.</summary>
    private sealed class IdentityRecorder : ISmtpBackend
    {
        public ConcurrentQueue<IReadOnlyDictionary<string, string>> Identities { get; } = new();

        public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult<ISmtpSessionHandler>(new Handler(this, context));

        private sealed class Handler(IdentityRecorder owner, SmtpSessionContext context) : ISmtpSessionHandler
        {
            public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken)
            {
                owner.Identities.Enqueue(new Dictionary<string, string>(context.Forwarded, StringComparer.OrdinalIgnoreCase));
                return ValueTask.FromResult(MailResult.Accept(new Transaction()));
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }

        private sealed class Transaction : ISmtpTransaction
        {
            public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
                ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Ok"));

            public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
            {
                await message.CopyToAsync(Stream.Null, cancellationToken);
                return new SmtpReply(250, "2.0.0", "Ok: queued");
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
