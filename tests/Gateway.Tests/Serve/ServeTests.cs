using System.Net;
using System.Text;
using Detach.Gateway.Tests.Cli;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// `detach serve` on the embedded defaults, as the README's first command runs it: mail in over SMTP, the
/// rewritten mail in the Maildir, the attachment back over HTTP from the link.
/// </summary>
public sealed class ServeTests() : InProcessServe("Smtp:MaxTextLineLength=1000")
{
    [Fact]
    public async Task Mail_in_link_in_the_maildir_file_out_over_http()
    {
        var attachment = DataFolder.RandomBytes(150_000, 40);
        await using var smtp = await RawSmtpClient.ConnectAsync(SmtpEndPoint);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.example.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<you@example.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await smtp.SendDataAsync(DataFolder.MessageWith(attachment))).Code);

        var delivered = Assert.Single(Directory.GetFiles(Path.Combine(Data.Path, "maildir", "new")));
        var link = Assert.Single(DataFolder.Links(await File.ReadAllTextAsync(delivered, Ct)));
        Assert.StartsWith($"http://127.0.0.1:{HttpPort}/d/", link, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(attachment.AsSpan(0, 300)), (await File.ReadAllTextAsync(delivered, Ct)).Replace("\r\n", "", StringComparison.Ordinal), StringComparison.Ordinal);

        using var http = new HttpClient();
        using var response = await DownloadAsync(http, link);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("report.pdf", response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await response.Content.ReadAsByteArrayAsync(Ct)));

        var health = await http.GetStringAsync($"http://127.0.0.1:{HttpPort}/readyz", Ct);
        Assert.Equal("index ok\nstore ok\n", health);
    }

    [Fact]
    public async Task A_text_line_over_the_configured_limit_is_refused_and_the_session_goes_on()
    {
        await using var smtp = await RawSmtpClient.ConnectAsync(SmtpEndPoint);
        await smtp.CommandAsync("EHLO client.example.test");
        await smtp.CommandAsync("MAIL FROM:<ann@example.com>");
        await smtp.CommandAsync("RCPT TO:<you@example.test>");
        await smtp.CommandAsync("DATA");
        var reply = (await smtp.SendDataAsync(Encoding.ASCII.GetBytes($"Subject: long\r\n\r\n{new string('x', 1200)}\r\n"))).ToString();
        Assert.StartsWith("500 5.5.2", reply, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Data.Path, "maildir", "new")) && Directory.GetFiles(Path.Combine(Data.Path, "maildir", "new")).Length > 0);

        // The same session still delivers a well-formed message.
        await smtp.CommandAsync("MAIL FROM:<ann@example.com>");
        await smtp.CommandAsync("RCPT TO:<you@example.test>");
        await smtp.CommandAsync("DATA");
        Assert.Equal(250, (await smtp.SendDataAsync("Subject: fine\r\n\r\nshort lines\r\n"u8.ToArray())).Code);
    }
}
