using Detach.Gateway.Metrics;
using Detach.Scanning;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Scanning;

/// <summary>What the scan of one stored attachment came to, for the message's X-Detach-Scan header and its index record.</summary>
/// <param name="Signature">What the scanner found in an attachment stored anyway (<see cref="InfectedAction.Deliver"/>).</param>
/// <param name="Unscanned">The scanner gave no verdict and the attachment was stored anyway (<see cref="ScannerDownAction.Deliver"/>).</param>
/// <param name="Truncated">Only the first Scan:MaxStreamBytes were scanned.</param>
public sealed record ScanReport(string? Signature, bool Unscanned, bool Truncated);

/// <summary>
/// Every attachment passes here on its way into the vault. <see cref="Watch"/> wraps its decoded bytes so the scanner
/// reads them while the vault encrypts them, and the verdict is applied before the store commits: infected content
/// is refused (<see cref="InfectedAttachmentException"/>) or let through under <see cref="InfectedAction.Deliver"/>;
/// a scanner without a verdict fails the message for a retry (<see cref="ScannerException"/>) or, under
/// <see cref="ScannerDownAction.Deliver"/>, lets it through unscanned.
/// </summary>
public sealed class ScanGate
{
    private readonly ScanOptions options;
    private readonly DetachMetrics metrics;
    private readonly ILogger logger;

    public ScanGate(ScanOptions options, DetachMetrics metrics, ILogger<ScanGate> logger)
        : this(options, CreateScanner(options), metrics, logger)
    {
    }

    public ScanGate(ScanOptions options, IContentScanner? scanner, DetachMetrics metrics, ILogger logger)
    {
        this.options = options;
        Scanner = scanner;
        this.metrics = metrics;
        this.logger = logger;
    }

    /// <summary>The scanner, or null when Scan:Clamd is empty.</summary>
    public IContentScanner? Scanner { get; }

    /// <summary>The clamd client for the configured endpoint, or null when scanning is off.</summary>
    public static ClamdClient? CreateScanner(ScanOptions options) =>
        options.Endpoint() is { } endpoint
            ? new ClamdClient(new ClamdClientOptions
            {
                Endpoint = endpoint,
                Timeout = TimeSpan.FromSeconds(options.TimeoutSeconds),
                MaxStreamBytes = options.MaxStreamBytes,
            })
            : null;

    /// <summary>
    /// The stream the vault should read instead of <paramref name="decoded"/> (null when scanning is off). Read to its
    /// end it throws what the policy refuses; dispose it in any case.
    /// </summary>
    public ScanningReadStream? Watch(string fileName, Stream decoded, CancellationToken cancellationToken) =>
        Scanner is null ? null : new ScanningReadStream(decoded, Scanner, outcome => Decide(fileName, outcome), cancellationToken);

    /// <summary>The report on an attachment whose stream was read to its end without a refusal.</summary>
    public static async Task<ScanReport> ReportAsync(ScanningReadStream watched)
    {
        var outcome = await watched.Outcome.ConfigureAwait(false);
        return new ScanReport(outcome.Verdict?.Signature, outcome.Verdict is null, outcome.Verdict?.Truncated ?? false);
    }

    private Exception? Decide(string fileName, ScanOutcome outcome)
    {
        metrics.OnScanned(outcome);
        var name = InfectedAttachmentException.SafeText(fileName);
        if (outcome.Verdict is not { } verdict)
        {
            var failure = outcome.Failure!;
            if (options.WhenScannerDown == ScannerDownAction.TempFail)
            {
                logger.LogWarning("Attachment {FileName} could not be scanned ({Error}); the message is refused for now (Scan:WhenScannerDown=TempFail)", name, failure.Message);
                return failure;
            }

            logger.LogWarning("Attachment {FileName} could not be scanned ({Error}); stored unscanned (Scan:WhenScannerDown=Deliver)", name, failure.Message);
            return null;
        }

        if (verdict.Truncated)
        {
            logger.LogInformation("Attachment {FileName} is larger than Scan:MaxStreamBytes ({Limit} bytes): only its start was scanned", name, options.MaxStreamBytes);
        }

        if (verdict.Signature is not { } signature)
        {
            return null;
        }

        logger.LogWarning("Attachment {FileName} contains {Signature}: {Action} (Scan:WhenInfected)", name, InfectedAttachmentException.SafeText(signature),
            options.WhenInfected switch
            {
                InfectedAction.Reject => "the message is refused",
                InfectedAction.Strip => "the attachment is removed from the message",
                _ => "stored and linked with a warning",
            });
        return options.WhenInfected == InfectedAction.Deliver ? null : new InfectedAttachmentException(fileName, signature, options.WhenInfected);
    }
}
