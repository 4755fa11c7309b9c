using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
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
            using var client = new TcpClient();
            await client.ConnectAsync(endPoint, ct);
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.ASCII);
            Assert.StartsWith("220", await reader.ReadLineAsync(ct), StringComparison.Ordinal);
            await stream.WriteAsync("EHLO client.example.test\r\n"u8.ToArray(), ct);
            var capabilities = new List<string>();
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                capabilities.Add(line);
                if (line[3] == ' ')
                {
                    break;
                }
            }

            Assert.Contains("250-STARTTLS", capabilities);
            await stream.WriteAsync("STARTTLS\r\n"u8.ToArray(), ct);
            Assert.StartsWith("220", await reader.ReadLineAsync(ct), StringComparison.Ordinal);

            await using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.example.test" }, ct);
            Assert.True(tls.IsAuthenticated && tls.IsEncrypted);
            var secure = new StreamReader(tls, Encoding.ASCII);
            await tls.WriteAsync("EHLO client.example.test\r\n"u8.ToArray(), ct);
            var afterTls = new List<string>();
            while (await secure.ReadLineAsync(ct) is { } line)
            {
                afterTls.Add(line);
                if (line[3] == ' ')
                {
                    break;
                }
            }

            Assert.StartsWith("250", afterTls[0], StringComparison.Ordinal);
            Assert.DoesNotContain("250-STARTTLS", afterTls);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }
}
