using System.Text;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Vault.Storage;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>The documented before-queue setup (<see cref="PostfixWithDetach"/>) with a private clamd behind detach.</summary>
public sealed class ScannedProxy : IAsyncDisposable
{
    private ScannedProxy(ClamdInstance clamd, PostfixWithDetach proxy, DirectoryInfo scratch)
    {
        Clamd = clamd;
        Proxy = proxy;
        Scratch = scratch;
    }

    public ClamdInstance Clamd { get; }

    public PostfixWithDetach Proxy { get; }

    /// <summary>A folder for the files the test sends.</summary>
    public DirectoryInfo Scratch { get; }

    /// <summary>Starts clamd, then Postfix and detach with Scan:Clamd pointing at it (TCP, or the unix socket) and <paramref name="settings"/>.</summary>
    public static async Task<ScannedProxy> StartAsync(CancellationToken cancellationToken, bool unixSocket = false, params string[] settings)
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        PeerBinaries.RequireClamd();
        var clamd = await ClamdInstance.StartAsync(cancellationToken);
        try
        {
            var proxy = await PostfixWithDetach.StartAsync(cancellationToken,
                [$"Scan:Clamd={(unixSocket ? clamd.UnixEndpoint : clamd.TcpEndpoint)}", "Scan:TimeoutSeconds=10", .. settings]);
            return new ScannedProxy(clamd, proxy, Directory.CreateTempSubdirectory("detach-e2e-scan-"));
        }
        catch
        {
            await clamd.DisposeAsync();
            throw;
        }
    }

    public string WriteFile(string name, byte[] content)
    {
        var path = Path.Combine(Scratch.FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>
    /// A message (CRLF) to alice whose attachment is a whole forwarded message, as a mail client forwards one
    /// "as attachment": message/rfc822, 7bit.
    /// </summary>
    public string WriteMessageForwarding(byte[] inner, string messageId)
    {
        var outer = new StringBuilder()
            .Append("From: ").Append(PostfixWithDetach.Sender).Append("\r\nTo: ").Append(PostfixInstance.Address("alice")).Append("\r\n")
            .Append("Subject: Fwd: tools\r\nMessage-ID: ").Append(messageId).Append("\r\n")
            .Append("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer-boundary\"\r\n\r\n")
            .Append("--outer-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nForwarding this.\r\n")
            .Append("--outer-boundary\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"tools.eml\"\r\n\r\n")
            .Append(Encoding.ASCII.GetString(inner))
            .Append("\r\n--outer-boundary--\r\n");
        return WriteFile("forward.eml", Encoding.ASCII.GetBytes(outer.ToString()));
    }

    /// <summary>Every object in the vault's store (the embedded one: no IPFS node in these tests).</summary>
    public async Task<List<Cid>> StoredObjectsAsync(CancellationToken cancellationToken)
    {
        var objects = new List<Cid>();
        await foreach (var cid in Proxy.Detach.Vault.Local.ListAsync(cancellationToken))
        {
            objects.Add(cid);
        }

        return objects;
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Clamd.DisposeAsync();
        Scratch.Delete(recursive: true);
    }
}
