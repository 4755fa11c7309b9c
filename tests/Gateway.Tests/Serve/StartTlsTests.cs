using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>With a certificate configured (PEM certificate and key, as an admin has them), the SMTP front offers STARTTLS.</summary>
public sealed class StartTlsTests
{
    [Fact]
    public async Task A_configured_pem_certificate_enables_starttls()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new DataFolder();
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=mx.example.test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(data.Path, "cert.pem");
        var keyPath = Path.Combine(data.Path, "key.pem");
        await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem(), ct);
        await File.WriteAllTextAsync(keyPath, rsa.ExportPkcs8PrivateKeyPem(), ct);

        var settings = data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0",
            $"Smtp:TlsCertificatePath={certPath}", $"Smtp:TlsKeyPath={keyPath}");
        await using var app = await DetachHost.BuildAsync(settings, ct);
        await app.StartAsync(ct);
        try
        {
            var endPoint = (IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();
            await using var client = await RawSmtpClient.ConnectAsync(endPoint);
            Assert.Contains("STARTTLS", (await client.CommandAsync("EHLO client.example.test")).Lines);
            Assert.Equal(220, (await client.CommandAsync("STARTTLS")).Code);

            await using var tls = new SslStream(client.Stream, leaveInnerStreamOpen: true, (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.example.test" }, ct);
            Assert.True(tls.IsAuthenticated && tls.IsEncrypted);
            client.Upgrade(tls);
            var afterTls = await client.CommandAsync("EHLO client.example.test");
            Assert.Equal(250, afterTls.Code);
            Assert.DoesNotContain("STARTTLS", afterTls.Lines);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }
}
