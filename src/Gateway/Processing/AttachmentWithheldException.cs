namespace Detach.Gateway.Processing;

/// <summary>
/// An inspection keeps one attachment out of the message on purpose (a scanner found a threat and the policy strips
/// it): the vault never commits it, and the rewritten message carries a short notice saying <see cref="Reason"/>.
/// </summary>
public sealed class AttachmentWithheldException(string reason, Exception? innerException = null) : Exception(reason, innerException)
{
    /// <summary>Why, in a few words of ASCII: "removed: it contains Eicar-Test-Signature".</summary>
    public string Reason { get; } = reason;
}
