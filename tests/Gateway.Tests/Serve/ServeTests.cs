using System.Net;
using System.Net.Sockets;
using System.Text;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// `detach serve` on the embedded defaults, as the README's first command runs it: mail in over SMTP, the
/// rewritten mail in the Maildir, the attachment back over HTTP from the link.
/// </summary>
public sealed class ServeTests : IAsyncLifetime
{
    private readonly DataFolder data = new();
    private WebApplication app = null!;
    private int httpPort;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        httpPort = FreePort();
        var settings = data.Settings($"PublicUrl=http://127.0.0.1:{httpPort}", $"Gateway:Listen=http://127.0.0.1:{httpPort}",
            "Smtp:Listen=127.0.0.1:0", "Smtp:MaxTextLineLength=1000");
        app = await DetachHost.BuildAsync(settings, Ct);
        await app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
        data.Dispose();
    }

    private IPEndPoint SmtpEndPoint => (IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    [Fact]
    public async Task Mail_in_link_in_the_maildir_file_out_over_http()
    {
        var attachment = DataFolder.RandomBytes(150_000, 40);
        await using var smtp = await SmtpDialog.ConnectAsync(SmtpEndPoint);
        Assert.StartsWith("250", await smtp.SendAsync("EHLO client.example.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.SendAsync("MAIL FROM:<ann@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.SendAsync("RCPT TO:<you@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await smtp.SendAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.SendDataAsync(DataFolder.MessageWith(attachment)), StringComparison.Ordinal);

        var delivered = Assert.Single(Directory.GetFiles(Path.Combine(data.Path, "maildir", "new")));
        var link = Assert.Single(DataFolder.Links(await File.ReadAllTextAsync(delivered, Ct)));
        Assert.StartsWith($"http://127.0.0.1:{httpPort}/d/", link, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(attachment.AsSpan(0, 300)), (await File.ReadAllTextAsync(delivered, Ct)).Replace("\r\n", "", StringComparison.Ordinal), StringComparison.Ordinal);

        using var http = new HttpClient();
        var (url, key) = (link[..link.IndexOf('#', StringComparison.Ordinal)], link[(link.IndexOf('#', StringComparison.Ordinal) + 1)..]);
        using var request = new HttpRequestMessage(HttpMethod.Get, url + "/file");
        request.Headers.Add("X-Detach-Key", key);
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("report.pdf", response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.Equal(DataFolder.Sha256(attachment), DataFolder.Sha256(await response.Content.ReadAsByteArrayAsync(Ct)));

        var health = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/readyz", Ct);
        Assert.Equal("index ok\nstore ok\n", health);
    }

    [Fact]
    public async Task A_text_line_over_the_configured_limit_is_refused_and_the_session_goes_on()
    {
        await using var smtp = await SmtpDialog.ConnectAsync(SmtpEndPoint);
        await smtp.SendAsync("EHLO client.example.test");
        await smtp.SendAsync("MAIL FROM:<ann@example.com>");
        await smtp.SendAsync("RCPT TO:<you@example.test>");
        await smtp.SendAsync("DATA");
        var reply = await smtp.SendDataAsync(Encoding.ASCII.GetBytes($"Subject: long\r\n\r\n{new string('x', 1200)}\r\n"));
        Assert.StartsWith("500 5.5.2", reply, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(data.Path, "maildir", "new")) && Directory.GetFiles(Path.Combine(data.Path, "maildir", "new")).Length > 0);

        // The same session still delivers a well-formed message.
        await smtp.SendAsync("MAIL FROM:<ann@example.com>");
        await smtp.SendAsync("RCPT TO:<you@example.test>");
        await smtp.SendAsync("DATA");
        Assert.StartsWith("250", await smtp.SendDataAsync("Subject: fine\r\n\r\nshort lines\r\n"u8.ToArray()), StringComparison.Ordinal);
    }

    /// <summary>A free TCP port on 127.0.0.1 (another process may take it before the caller binds; rare).</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A plain SMTP dialogue over TCP: one command, one (possibly multi-line) reply.</summary>
internal sealed class SmtpDialog : IAsyncDisposable
{
    private readonly TcpClient client;
    private readonly StreamReader reader;
    private readonly Stream stream;

    private SmtpDialog(TcpClient client)
    {
        this.client = client;
        stream = client.GetStream();
        reader = new StreamReader(stream, Encoding.Latin1);
    }

    /// <param name="from">The local address to connect from (any of 127.0.0.0/8 works on Linux loopback).</param>
    public static async Task<SmtpDialog> ConnectAsync(IPEndPoint endPoint, IPAddress? from = null)
    {
        var client = from is null ? new TcpClient() : new TcpClient(new IPEndPoint(from, 0));
        await client.ConnectAsync(endPoint, TestContext.Current.CancellationToken);
        var dialog = new SmtpDialog(client);
        Assert.StartsWith("220", await dialog.ReadReplyAsync(), StringComparison.Ordinal);
        return dialog;
    }

    public async Task<string> SendAsync(string command)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), TestContext.Current.CancellationToken);
        return await ReadReplyAsync();
    }

    /// <summary>Sends a CRLF message (dot-stuffed here) and the final dot; returns the reply to it.</summary>
    public async Task<string> SendDataAsync(byte[] message)
    {
        var text = Encoding.Latin1.GetString(message).Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        await stream.WriteAsync(Encoding.Latin1.GetBytes(text + (text.EndsWith("\r\n", StringComparison.Ordinal) ? "" : "\r\n") + ".\r\n"), TestContext.Current.CancellationToken);
        return await ReadReplyAsync();
    }

    private async Task<string> ReadReplyAsync()
    {
        var reply = new StringBuilder();
        while (await reader.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
        {
            reply.Append(line).Append('\n');
            if (line.Length < 4 || line[3] != '-')
            {
                break;
            }
        }

        return reply.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await stream.DisposeAsync();
        client.Dispose();
    }
}
