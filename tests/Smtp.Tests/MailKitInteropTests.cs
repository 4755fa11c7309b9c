using System.Text;
using MailKit.Security;
using MimeKit;
using MailKitClient = MailKit.Net.Smtp.SmtpClient;
using MailKitCapabilities = MailKit.Net.Smtp.SmtpCapabilities;

namespace Detach.Smtp.Tests;

/// <summary>
/// MailKit's SmtpClient, an independent and widely used client, against our server: the extensions it picks from our
/// EHLO (PIPELINING, CHUNKING, SIZE, STARTTLS, 8BITMIME, SMTPUTF8) and the bytes that arrive.
/// </summary>
public class MailKitInteropTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MimeMessage Message(string subject, string body)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Ann", "ann@example.org"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.test"));
        message.To.Add(new MailboxAddress("Cy", "cy@example.test"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    private static async Task<MailKitClient> ConnectAsync(ServerHost host, SecureSocketOptions security = SecureSocketOptions.None)
    {
        var client = new MailKitClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=mx.test" };
        await client.ConnectAsync("127.0.0.1", host.EndPoint.Port, security, Ct);
        return client;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sends_with_pipelining_and_with_or_without_chunking(bool chunking)
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Chunking = chunking);
        using MailKitClient client = await ConnectAsync(host);
        Assert.True(client.Capabilities.HasFlag(MailKitCapabilities.Pipelining));
        Assert.Equal(chunking, client.Capabilities.HasFlag(MailKitCapabilities.Chunking));
        Assert.Equal(host.Options.Limits.MaxMessageSize, (long)client.MaxSize);

        // Dots at line starts and a long body: stuffing (DATA) or octet counts (BDAT) must both come out exact.
        string body = string.Join("\n", Enumerable.Range(0, 2000).Select(i => i % 5 == 0 ? $".line {i}" : $"line {i}"));
        MimeMessage message = Message("interop", body);
        string reply = await client.SendAsync(message, Ct);
        Assert.Contains("queued as TEST", reply, StringComparison.Ordinal);
        await client.DisconnectAsync(quit: true, Ct);

        ReceivedMessage received = await backend.Messages.Reader.ReadAsync(Ct);
        Assert.Equal("ann@example.org", received.From);
        Assert.Equal(["bob@example.test", "cy@example.test"], received.Recipients);
        var expected = new MemoryStream();
        FormatOptions wire = FormatOptions.Default.Clone();
        wire.NewLineFormat = NewLineFormat.Dos;
        await message.WriteToAsync(wire, expected, Ct);
        Assert.Equal(Encoding.ASCII.GetString(expected.ToArray()), Encoding.ASCII.GetString(received.Data));
    }

    [Fact]
    public async Task Starts_tls_and_sends()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Certificate = StartTlsTests.CreateCertificate());
        using MailKitClient client = await ConnectAsync(host, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        await client.SendAsync(Message("secret", "over tls"), Ct);
        await client.DisconnectAsync(quit: true, Ct);
        Assert.Contains("over tls", Encoding.ASCII.GetString((await backend.Messages.Reader.ReadAsync(Ct)).Data), StringComparison.Ordinal);
    }

    /// <summary>A message over the announced SIZE: MailKit declares its size, and our 552 comes back as its error.</summary>
    [Fact]
    public async Task A_message_over_the_announced_size_is_refused_with_552()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 4096);
        using MailKitClient client = await ConnectAsync(host);
        Assert.Equal(4096u, client.MaxSize);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(Message("big", new string('x', 10_000)), Ct));
        Assert.Contains("552", error is MailKit.Net.Smtp.SmtpCommandException command ? ((int)command.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : error.Message, StringComparison.Ordinal);
        Assert.False(backend.Messages.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Utf8_addresses_go_through_with_smtputf8()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        using MailKitClient client = await ConnectAsync(host);
        Assert.True(client.Capabilities.HasFlag(MailKitCapabilities.UTF8));
        MimeMessage message = Message("utf8", "hé");
        message.To.Clear();
        message.To.Add(new MailboxAddress("Zoë", "zoë@example.test"));
        await client.SendAsync(message, Ct);
        Assert.Equal(["zoë@example.test"], (await backend.Messages.Reader.ReadAsync(Ct)).Recipients);
    }
}
