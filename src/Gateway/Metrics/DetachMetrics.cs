using System.Diagnostics.Metrics;

namespace Detach.Gateway.Metrics;

/// <summary>The instruments Detach reports; /metrics renders them in the Prometheus text format.</summary>
public sealed class DetachMetrics : IDisposable
{
    public const string MeterName = "Detach";

    private readonly Meter _meter;

    /// <summary>This instance's meter: an exporter listens to it alone, so two hosts in one process never mix counts.</summary>
    public Meter Meter => _meter;

    public DetachMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        MessagesProcessed = _meter.CreateCounter<long>("detach.messages.processed", description: "Messages accepted and passed on.");
        MessagesTempFailed = _meter.CreateCounter<long>("detach.messages.tempfailed", description: "Messages answered with a temporary failure (4xx / exit 75).");
        MessagesRejected = _meter.CreateCounter<long>("detach.messages.rejected", description: "Messages refused with a permanent failure (5xx).");
        MessagesPastLimit = _meter.CreateCounter<long>("detach.messages.limit_exceeded", description: "Messages past a MIME parser limit, by what Policy:WhenLimitExceeded did (action=deliver|reject|tempfail).");
        AttachmentsDetached = _meter.CreateCounter<long>("detach.attachments.detached", description: "Attachments taken out of messages and stored.");
        BytesDetached = _meter.CreateCounter<long>("detach.detached.bytes", unit: "bytes", description: "Plaintext bytes of detached attachments, stored once.");
        BytesSaved = _meter.CreateCounter<long>("detach.saved.bytes", unit: "bytes", description: "Mailbox bytes saved: size × (recipients − 1).");
        StoreLatency = _meter.CreateHistogram<double>("detach.store.duration", unit: "seconds", description: "Time to encrypt and durably store one attachment.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        Downloads = _meter.CreateCounter<long>("detach.downloads", description: "Completed downloads.");
        DownloadBytes = _meter.CreateCounter<long>("detach.download.bytes", unit: "bytes", description: "Plaintext bytes served.");
        FailedMacs = _meter.CreateCounter<long>("detach.mac.failures", description: "Records that failed authentication while serving a download.");
        KeyRejections = _meter.CreateCounter<long>("detach.key.rejections", description: "Wrong keys presented to the gateway.");
        AttachmentsScanned = _meter.CreateCounter<long>("detach.scan.scanned", description: "Attachments the scanner gave a verdict on.");
        AttachmentsInfected = _meter.CreateCounter<long>("detach.scan.infected", description: "Attachments the scanner found a threat in, by signature.");
        ScannerErrors = _meter.CreateCounter<long>("detach.scan.errors", description: "Scans that ended without a verdict: scanner down, too slow, or answering errors.");
        ScanDuration = _meter.CreateHistogram<double>("detach.scan.duration", unit: "seconds", description: "Time from an attachment's first byte to the scanner's verdict.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
    }

    public Counter<long> MessagesProcessed { get; }
    public Counter<long> MessagesTempFailed { get; }
    public Counter<long> MessagesRejected { get; }
    public Counter<long> MessagesPastLimit { get; }
    public Counter<long> AttachmentsDetached { get; }
    public Counter<long> BytesDetached { get; }
    public Counter<long> BytesSaved { get; }
    public Histogram<double> StoreLatency { get; }
    public Counter<long> Downloads { get; }
    public Counter<long> DownloadBytes { get; }
    public Counter<long> FailedMacs { get; }
    public Counter<long> KeyRejections { get; }
    public Counter<long> AttachmentsScanned { get; }
    public Counter<long> AttachmentsInfected { get; }
    public Counter<long> ScannerErrors { get; }
    public Histogram<double> ScanDuration { get; }

    /// <summary>
    /// Reports <c>detach_ipfs_node_skipped</c>: 1 while adds leave the IPFS node alone after a failure (they are
    /// spooled, or refused with Vault:WhenNodeDown=TempFail), 0 while it takes them.
    /// </summary>
    public void ObserveNodeSkipped(Func<bool> skipped)
    {
        ArgumentNullException.ThrowIfNull(skipped);
        _meter.CreateObservableGauge("detach.ipfs.node_skipped", () => skipped() ? 1 : 0,
            description: "1 while adds leave the IPFS node alone after it failed one (spooled or refused at once), else 0.");
    }

    /// <summary>One scan ended: a verdict (and the signature when infected), or a scanner error.</summary>
    public void OnScanned(Detach.Scanning.ScanOutcome outcome)
    {
        ScanDuration.Record(outcome.Elapsed.TotalSeconds);
        if (outcome.Verdict is not { } verdict)
        {
            ScannerErrors.Add(1);
            return;
        }

        AttachmentsScanned.Add(1);
        if (verdict.Signature is { } signature)
        {
            AttachmentsInfected.Add(1, new KeyValuePair<string, object?>("signature", signature));
        }
    }

    public void OnAttachmentStored(Detach.Vault.Index.AttachmentRecord record, TimeSpan elapsed) =>
        StoreLatency.Record(elapsed.TotalSeconds);

    /// <summary>Counted when the message carrying the link is accepted, so tempfailed retries are not counted twice.</summary>
    public void OnAttachmentDelivered(Detach.Vault.Index.AttachmentRecord record)
    {
        AttachmentsDetached.Add(1);
        BytesDetached.Add(record.PlaintextSize);
        BytesSaved.Add(record.PlaintextSize * Math.Max(0, record.RecipientCount - 1));
    }

    public void Dispose() => _meter.Dispose();
}
