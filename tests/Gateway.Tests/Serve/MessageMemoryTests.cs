using System.Net;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// MessageMemoryBytes and TotalMessageMemoryBytes: an operator who gives received mail no memory at all gets every
/// message through a private file, and the same mail out. The event-thread guard is on in this project, so a spool
/// that touched the disk on the socket event thread would fail the message (451) here.
/// </summary>
public sealed class MessageMemoryTests() : InProcessServe("TotalMessageMemoryBytes=0", "MessageMemoryBytes=0")
{
    [Fact]
    public async Task With_no_memory_for_mail_every_message_goes_through_a_file_and_arrives_the_same()
    {
        var attachment = DataFolder.RandomBytes(150_000, 41);
        var created = 0;
        using var watcher = new FileSystemWatcher(Path.Combine(Data.Path, "tmp")) { EnableRaisingEvents = true };
        watcher.Created += (_, _) => Interlocked.Increment(ref created);
        await using var smtp = await RawSmtpClient.ConnectAsync(SmtpEndPoint);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.example.test")).Code);
        foreach (var message in new[] { DataFolder.MessageWith(attachment), "Subject: plain\r\n\r\nJust text.\r\n"u8.ToArray() })
        {
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<you@example.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await smtp.SendDataAsync(message)).Code);
        }

        var delivered = Directory.GetFiles(Path.Combine(Data.Path, "maildir", "new")).Select(File.ReadAllText).ToList();
        Assert.Equal(2, delivered.Count);
        var link = Assert.Single(delivered.SelectMany(DataFolder.Links));
        Assert.Contains(delivered, m => m.EndsWith("\r\n\r\nJust text.\r\n", StringComparison.Ordinal));
        Assert.DoesNotContain(delivered, m => m.Replace("\r\n", "", StringComparison.Ordinal).Contains(Convert.ToBase64String(attachment.AsSpan(0, 300)), StringComparison.Ordinal));

        using var http = new HttpClient();
        using var response = await DownloadAsync(http, link);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await response.Content.ReadAsByteArrayAsync(Ct)));

        Assert.Equal(0, App.Services.GetRequiredService<MessageSpools>().AvailableMemoryBytes);
        Assert.True(Volatile.Read(ref created) >= 2, $"{created} spool files for two messages");
        Assert.Empty(Directory.GetFiles(Path.Combine(Data.Path, "tmp"))); // each spool's file went with its message
    }
}
