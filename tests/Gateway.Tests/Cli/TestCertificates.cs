using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// A private certificate authority and a server certificate it issued for 127.0.0.1 and localhost. The authority is
/// written as a PEM bundle: a client trusts it only when pointed at it (SSL_CERT_FILE), exactly as it would trust
/// an authority in the system's store.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public TestCertificates(string folder)
    {
        using var authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var authorityRequest = new CertificateRequest("CN=Detach Test Authority", authorityKey, HashAlgorithmName.SHA256);
        authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var authority = authorityRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = serverRequest.Create(authority, now.AddDays(-1), now.AddDays(29), RandomNumberGenerator.GetBytes(16));
        using var withKey = issued.CopyWithPrivateKey(serverKey);
        Server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);

        AuthorityBundle = Path.Combine(folder, "test-authority.pem");
        File.WriteAllText(AuthorityBundle, authority.ExportCertificatePem() + "\n");
    }

    /// <summary>The server certificate with its private key, for the TLS-terminating proxy.</summary>
    public X509Certificate2 Server { get; }

    /// <summary>A PEM file holding only the test authority.</summary>
    public string AuthorityBundle { get; }

    public void Dispose() => Server.Dispose();
}
