namespace Detach.Scanning;

/// <summary>A malware scanner that reads content as a stream and gives a verdict.</summary>
public interface IContentScanner
{
    /// <summary>What scans, for logs and headers: "clamd at tcp://127.0.0.1:3310".</summary>
    string Name { get; }

    /// <summary>
    /// Reads <paramref name="content"/> (at most as far as the scanner's size limit, plus one byte to know whether
    /// there was more) and returns the verdict. Throws <see cref="ScannerException"/> when the scanner cannot give one.
    /// </summary>
    Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken);
}

/// <summary>What a scanner said about one piece of content.</summary>
/// <param name="Signature">The name of what was found; null when the content is clean.</param>
/// <param name="ScannedBytes">How many bytes the scanner saw.</param>
/// <param name="Truncated">The content was longer than the scanner's size limit: only its first bytes were scanned.</param>
public sealed record ScanVerdict(string? Signature, long ScannedBytes, bool Truncated)
{
    public bool Infected => Signature is not null;
}

/// <summary>The scanner could not give a verdict: unreachable, too slow, or it answered with an error.</summary>
public sealed class ScannerException(string message, Exception? innerException = null) : Exception(message, innerException);
