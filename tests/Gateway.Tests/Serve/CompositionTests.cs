using System.Net;
using System.Net.Sockets;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Smtp;
using Detach.Vault.Index;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// One composition root: building the host opens nothing (the vault comes from the container), the index is
/// migrated in the host's starting phase before anything listens, and the Smtp section maps onto the server's
/// options with the same defaults.
/// </summary>
public sealed class CompositionTests : IDisposable
{
    private readonly DataFolder data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task An_unreachable_index_fails_the_start_before_anything_listens_not_the_build()
    {
        var smtpPort = ServeTests.FreePort();
        var settings = data.Settings($"Smtp:Listen=127.0.0.1:{smtpPort}", "Gateway:Listen=http://127.0.0.1:0",
            "Index:Kind=postgres", $"Index:ConnectionString=Host=127.0.0.1;Port={ServeTests.FreePort()};Timeout=5");

        await using var app = await DetachHost.BuildAsync(settings, Ct);
        Assert.Same(app.Services.GetRequiredService<IAttachmentIndex>(), app.Services.GetRequiredService<VaultComponents>().Index);

        await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync(Ct));
        using var probe = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(async () => await probe.ConnectAsync(IPAddress.Loopback, smtpPort, Ct));
    }

    [Fact]
    public async Task The_index_is_migrated_when_the_host_starts()
    {
        await using var app = await DetachHost.BuildAsync(data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0"), Ct);
        var index = app.Services.GetRequiredService<IAttachmentIndex>();
        Assert.False(await index.PingAsync(Ct), "building the host must not open the index");

        await app.StartAsync(Ct);
        Assert.True(await index.PingAsync(Ct));
        await app.StopAsync(Ct);
    }

    /// <summary>The section's defaults are the library's, so a value is the same whoever builds the server.</summary>
    [Fact]
    public void The_Smtp_sections_defaults_are_the_servers_defaults()
    {
        var mapped = SmtpFrontService.CreateOptions(new SmtpFrontOptions());
        var library = new SmtpLimits();
        foreach (var property in typeof(SmtpLimits).GetProperties().Where(p => p.CanWrite))
        {
            // Behind Postfix no line limit (Postfix takes longer lines); the library defaults to RFC 5321's 1000.
            if (property.Name != nameof(SmtpLimits.MaxTextLineLength))
            {
                Assert.True(Equals(property.GetValue(library), property.GetValue(mapped.Limits)),
                    $"Smtp section maps {property.Name} to {property.GetValue(mapped.Limits)}, the library's default is {property.GetValue(library)}");
            }
        }

        Assert.Equal(new SmtpServerOptions().MaxConnections, mapped.MaxConnections);
    }

    [Fact]
    public async Task Smtp_MaxRecipients_limits_the_recipients_of_one_transaction()
    {
        await using var app = await DetachHost.BuildAsync(
            data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0", "Smtp:MaxRecipients=2"), Ct);
        await app.StartAsync(Ct);
        var front = (IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();
        await using (var smtp = await SmtpDialog.ConnectAsync(front))
        {
            await smtp.SendAsync("EHLO client.example.test");
            Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<a@example.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<b@example.test>"), StringComparison.Ordinal);
            Assert.StartsWith("452", await smtp.SendAsync("RCPT TO:<c@example.test>"), StringComparison.Ordinal);
        }

        await app.StopAsync(Ct);
    }
}
