using Detach.Scanning;

namespace Detach.Gateway.Scanning;

/// <summary>What happens to a message with an attachment the scanner names.</summary>
public enum InfectedAction
{
    /// <summary>Refuse the whole message: 554 5.7.1 with the signature in SMTP, EX_NOPERM (77) in `detach filter`; nothing is stored.</summary>
    Reject,

    /// <summary>Deliver the message with the attachment replaced by a notice naming the threat; nothing is stored.</summary>
    Strip,

    /// <summary>Store and link it as usual, with an X-Detach-Scan header and a warning on the download page.</summary>
    Deliver,
}

/// <summary>What happens when the scanner cannot give a verdict (down, too slow, answering errors).</summary>
public enum ScannerDownAction
{
    /// <summary>Answer 4xx (exit 75 in `detach filter`): the sender's MTA keeps the message and retries.</summary>
    TempFail,

    /// <summary>Store the attachment unscanned; the message says so in its X-Detach-Scan header.</summary>
    Deliver,
}

/// <summary>Attachment scanning (section "Scan"): every attachment is scanned on its way into the vault, before it is encrypted.</summary>
public sealed class ScanOptions
{
    /// <summary>clamd's address: tcp://127.0.0.1:3310 or unix:/run/clamav/clamd.ctl; empty means no scanning.</summary>
    public string? Clamd { get; set; }

    public InfectedAction WhenInfected { get; set; } = InfectedAction.Reject;

    public ScannerDownAction WhenScannerDown { get; set; } = ScannerDownAction.TempFail;

    /// <summary>The longest wait on clamd for one step (connecting, taking a chunk, giving the verdict).</summary>
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>The most bytes of one attachment sent to clamd; keep it at or below clamd's StreamMaxLength (25 MiB in Debian).</summary>
    public long MaxStreamBytes { get; set; } = 25 * 1024 * 1024;

    /// <summary>The clamd endpoint when scanning is on, else null.</summary>
    public ClamdEndpoint? Endpoint() =>
        ClamdEndpoint.TryParse(Clamd, out var endpoint, out _) ? endpoint : null;

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Clamd) && !ClamdEndpoint.TryParse(Clamd, out _, out var error))
        {
            yield return $"Scan:Clamd must be clamd's address or empty (no scanning), not '{Clamd}': {error}.";
        }

        if (!Enum.IsDefined(WhenInfected))
        {
            yield return $"Scan:WhenInfected must be Reject, Strip or Deliver, not '{WhenInfected}'.";
        }

        if (!Enum.IsDefined(WhenScannerDown))
        {
            yield return $"Scan:WhenScannerDown must be TempFail or Deliver, not '{WhenScannerDown}'.";
        }

        if (TimeoutSeconds is < 1 or > 600)
        {
            yield return $"Scan:TimeoutSeconds must be between 1 and 600, not {TimeoutSeconds} (keep it well below Postfix's smtpd_proxy_timeout).";
        }

        if (MaxStreamBytes is < 1024 * 1024 or > uint.MaxValue)
        {
            yield return $"Scan:MaxStreamBytes must be between 1 MiB (1048576) and 4 GiB (4294967295, clamd's largest StreamMaxLength), not {MaxStreamBytes}.";
        }
    }
}
