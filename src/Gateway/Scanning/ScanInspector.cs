using System.Text;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Mime;
using Detach.Scanning;
using Detach.Smtp;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Scanning;

/// <summary>
/// The scanner on the vault's way in: each attachment's decoded bytes go to clamd while the vault encrypts them
/// (<see cref="ConcurrentScan"/>), and the verdict is applied before the store commits. Infected: the message is
/// refused (554 5.7.1), the attachment withheld (a notice in its place), or stored with a warning, as
/// <see cref="ScanOptions.WhenInfected"/> says. No verdict (clamd down, too slow, answering errors): 451 for a retry,
/// or stored with a warning, as <see cref="ScanOptions.WhenScannerDown"/> says.
/// </summary>
public sealed class ScanInspector(ScanOptions options, IContentScanner scanner, DetachMetrics metrics, ILogger<ScanInspector> logger) : IAttachmentInspector
{
    /// <summary>For the sender when the scanner gives no verdict and the policy is to retry.</summary>
    public static readonly SmtpReply ScannerDown = new(451, "4.3.0", "Attachment scanner unavailable, try again later");

    public IContentScanner Scanner => scanner;

    /// <summary>The inspector for the configured clamd, or null when Scan:Clamd is empty.</summary>
    public static ScanInspector? Create(ScanOptions options, DetachMetrics metrics, ILogger<ScanInspector> logger) =>
        CreateClient(options) is { } client ? new ScanInspector(options, client, metrics, logger) : null;

    /// <summary>The clamd client for the configured endpoint, or null when scanning is off.</summary>
    public static ClamdClient? CreateClient(ScanOptions options) =>
        options.Endpoint() is { } endpoint
            ? new ClamdClient(new ClamdClientOptions
            {
                Endpoint = endpoint,
                Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
                MaxStreamBytes = options.MaxStreamBytes,
            })
            : null;

    public ValueTask<IAttachmentInspection> BeginAsync(AttachmentDescriptor attachment, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IAttachmentInspection>(new Inspection(this, attachment.FileName, new ConcurrentScan(scanner, cancellationToken)));

    /// <summary>The reply that refuses a message over <paramref name="signature"/>.</summary>
    public static SmtpReply Infected(string signature) => new(554, "5.7.1", $"Message refused: an attachment contains {SafeText(signature)}");

    /// <summary>Printable ASCII only, at most 100 characters: names from mail and from scanners go into replies, headers and logs.</summary>
    public static string SafeText(string text)
    {
        var safe = new StringBuilder(Math.Min(text.Length, 100));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 100)))
        {
            safe.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return safe.ToString();
    }

    /// <summary>The policy: null to store the attachment as it is, a warning to store it flagged, or an exception.</summary>
    private string? Decide(string fileName, ScanOutcome outcome)
    {
        metrics.OnScanned(outcome);
        var name = SafeText(fileName);
        if (outcome.Verdict is not { } verdict)
        {
            var failure = outcome.Failure!;
            if (options.WhenScannerDown == ScannerDownAction.TempFail)
            {
                logger.LogWarning("Attachment {FileName} could not be scanned ({Error}); the message is refused for now (Scan:WhenScannerDown=TempFail)", name, failure.Message);
                throw new MessageRefusedException(ScannerDown, failure);
            }

            logger.LogWarning("Attachment {FileName} could not be scanned ({Error}); stored unscanned (Scan:WhenScannerDown=Deliver)", name, failure.Message);
            return "not scanned: scanner unavailable";
        }

        if (verdict.Truncated)
        {
            logger.LogInformation("Attachment {FileName} is larger than Scan:MaxStreamBytes ({Limit} bytes): only its start was scanned", name, options.MaxStreamBytes);
        }

        if (verdict.Signature is not { } found)
        {
            return null;
        }

        var signature = SafeText(found);
        switch (options.WhenInfected)
        {
            case InfectedAction.Reject:
                logger.LogWarning("Attachment {FileName} contains {Signature}: the message is refused (Scan:WhenInfected=Reject)", name, signature);
                throw new MessageRefusedException(Infected(signature));
            case InfectedAction.Strip:
                logger.LogWarning("Attachment {FileName} contains {Signature}: removed from the message, not stored (Scan:WhenInfected=Strip)", name, signature);
                throw new AttachmentWithheldException($"removed, it contains {signature}");
            default:
                logger.LogWarning("Attachment {FileName} contains {Signature}: stored and linked with a warning (Scan:WhenInfected=Deliver)", name, signature);
                return $"infected: {signature}";
        }
    }

    private sealed class Inspection(ScanInspector owner, string fileName, ConcurrentScan scan) : IAttachmentInspection
    {
        public ValueTask WriteAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken) => scan.WriteAsync(content, cancellationToken);

        public async ValueTask<string?> CompleteAsync(CancellationToken cancellationToken) =>
            owner.Decide(fileName, await scan.CompleteAsync(cancellationToken).ConfigureAwait(false));

        public ValueTask DisposeAsync() => scan.DisposeAsync();
    }
}
