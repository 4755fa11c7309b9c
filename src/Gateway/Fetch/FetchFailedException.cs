namespace Detach.Gateway.Fetch;

/// <summary>
/// A download that did not complete: one sentence for the person at the terminal (never the key) and the
/// sysexits code that tells a script what kind of failure it was (see <see cref="Cli.ExitCodes"/>).
/// </summary>
public sealed class FetchFailedException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
