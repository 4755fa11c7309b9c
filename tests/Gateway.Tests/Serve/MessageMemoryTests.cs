using System.Net;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// MessageMemoryBytes and TotalMessageMemoryBytes: an operator who gives received mail no memory at all gets every
/// message through a private file, and the same mail out. The event-thread guard is on in this project, so a spool
/// that touched the disk on the socket event thread would fail the message (451) here.
/// </summary>
public sealed class MessageMemoryTests : IAsyncLifetime
{
    private readonly DataFolder _data = new();
    private WebApplication _app = null!;
    private int _httpPort;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _httpPort = FreePort.Next();
        var settings = _data.Settings($"PublicUrl=http://127.0.0.1:{_httpPort}", $"Gateway:Listen=http://127.0.0.1:{_httpPort}",
            "Smtp:Listen=127.0.0.1:0", "TotalMessageMemoryBytes=0", "MessageMemoryBytes=0");
        _app = await DetachHost.BuildAsync(settings, Ct);
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task With_no_memory_for_mail_every_message_goes_through_a_file_and_arrives_the_same()
    {
        var endPoint = (IPEndPoint)_app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();
        var attachment = DataFolder.RandomBytes(150_000, 41);
        var created = 0;
        using var watcher = new FileSystemWatcher(Path.Combine(_data.Path, "tmp")) { EnableRaisingEvents = true };
        watcher.Created += (_, _) => Interlocked.Increment(ref created);
        await using var smtp = await RawSmtpClient.ConnectAsync(endPoint);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.example.test")).Code);
        foreach (var message in new[] { DataFolder.MessageWith(attachment), "Subject: plain\r\n\r\nJust text.\r\n"u8.ToArray() })
        {
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<you@example.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await smtp.SendDataAsync(message)).Code);
        }

        var delivered = Directory.GetFiles(Path.Combine(_data.Path, "maildir", "new")).Select(File.ReadAllText).ToList();
        Assert.Equal(2, delivered.Count);
        var link = Assert.Single(delivered.SelectMany(DataFolder.Links));
        Assert.Contains(delivered, m => m.EndsWith("\r\n\r\nJust text.\r\n", StringComparison.Ordinal));
        Assert.DoesNotContain(delivered, m => m.Replace("\r\n", "", StringComparison.Ordinal).Contains(Convert.ToBase64String(attachment.AsSpan(0, 300)), StringComparison.Ordinal));

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, link[..link.IndexOf('#', StringComparison.Ordinal)] + "/file");
        request.Headers.Add("X-Detach-Key", link[(link.IndexOf('#', StringComparison.Ordinal) + 1)..]);
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await response.Content.ReadAsByteArrayAsync(Ct)));

        Assert.Equal(0, _app.Services.GetRequiredService<MessageSpools>().AvailableMemoryBytes);
        Assert.True(Volatile.Read(ref created) >= 2, $"{created} spool files for two messages");
        Assert.Empty(Directory.GetFiles(Path.Combine(_data.Path, "tmp"))); // each spool's file went with its message
    }
}
