using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Detach.Smtp.Tests;

public class StartTlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mx.test", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("mx.test");
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    private static async Task<SslStream> HandshakeAsync(RawSmtpClient client)
    {
        var tls = new SslStream(client.Stream, leaveInnerStreamOpen: true);
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "mx.test",
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=mx.test",
            },
            Ct);
        client.Upgrade(tls);
        return tls;
    }

    [Fact]
    public async Task Starttls_upgrades_and_forgets_the_earlier_greeting()
    {
        using X509Certificate2 certificate = CreateCertificate();
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Certificate = certificate);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Contains("STARTTLS", (await client.CommandAsync("EHLO c")).Lines);
        Assert.Equal(501, (await client.CommandAsync("STARTTLS now")).Code);
        Assert.Equal(220, (await client.CommandAsync("STARTTLS")).Code);
        await using SslStream tls = await HandshakeAsync(client);

        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<a@b>")).Code);
        RawSmtpReply ehlo = await client.CommandAsync("EHLO c");
        Assert.DoesNotContain("STARTTLS", ehlo.Lines);
        Assert.Equal(554, (await client.CommandAsync("STARTTLS")).Code);
        await client.CommandAsync("MAIL FROM:<a@b>");
        await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        await client.SendAsync("secret\r\n.\r\n");
        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        Assert.Equal("secret\r\n", Encoding.ASCII.GetString((await backend.Messages.Reader.ReadAsync(Ct)).Data));
        Assert.True(Assert.Single(backend.Sessions).IsTls);
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_in_clear_text_are_discarded()
    {
        using X509Certificate2 certificate = CreateCertificate();
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o => o.Certificate = certificate);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("EHLO c");
        await client.SendAsync("STARTTLS\r\nEHLO injected\r\nMAIL FROM:<injected@evil>\r\n");
        Assert.Equal(220, (await client.ReadReplyAsync()).Code);
        await using SslStream tls = await HandshakeAsync(client);

        // Had the injected commands run, their replies would come first and a transaction would be open.
        RawSmtpReply first = await client.CommandAsync("RCPT TO:<c@d>");
        Assert.Equal((503, "5.5.1"), (first.Code, first.EnhancedCode));
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        Assert.Null(Assert.Single(backend.Sessions).HeloName);
    }

    [Fact]
    public async Task Starttls_is_not_offered_without_a_certificate()
    {
        await using ServerHost host = ServerHost.Start(new TestBackend());
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        await client.CommandAsync("EHLO c");
        Assert.Equal(502, (await client.CommandAsync("STARTTLS")).Code);
    }
}
