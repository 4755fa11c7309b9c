using System.Text;
using Detach.Gateway.Scanning;
using Detach.Scanning;
using Detach.Vault.Index;
using Detach.Vault.Storage;

namespace Detach.Gateway.Hosting;

/// <summary>
/// What <c>/readyz</c> answers: one line per dependency mail needs, and not ready (503) when one that would make
/// mail wait is down. The scanner counts only when scanning is on; with <c>Scan:WhenScannerDown=Deliver</c> mail
/// still flows without it (unscanned, and said so), so the instance stays ready and the line says why.
/// </summary>
public sealed class ReadinessProbe(IAttachmentIndex index, IContentStore store, ScanOptions scan, ClamdClient? scanner = null)
{
    public async Task<(bool Ready, string Body)> CheckAsync(CancellationToken cancellationToken)
    {
        var indexUp = await index.PingAsync(cancellationToken).ConfigureAwait(false);
        var storeUp = await store.IsAvailableAsync(cancellationToken).ConfigureAwait(false);
        var body = new StringBuilder()
            .Append("index ").Append(indexUp ? "ok" : "unreachable").Append('\n')
            .Append("store ").Append(storeUp ? "ok" : "unreachable").Append('\n');
        var ready = indexUp && storeUp;
        if (scanner is not null)
        {
            var scannerUp = await PingAsync(scanner, cancellationToken).ConfigureAwait(false);
            body.Append("scanner ").Append(scannerUp ? "ok" : "unreachable");
            if (!scannerUp && scan.WhenScannerDown == ScannerDownAction.Deliver)
            {
                body.Append(" (Scan:WhenScannerDown=Deliver: attachments are stored unscanned)");
            }

            body.Append('\n');
            ready &= scannerUp || scan.WhenScannerDown == ScannerDownAction.Deliver;
        }

        return (ready, body.ToString());
    }

    private static async Task<bool> PingAsync(ClamdClient scanner, CancellationToken cancellationToken)
    {
        try
        {
            return await scanner.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ScannerException)
        {
            return false;
        }
    }
}
