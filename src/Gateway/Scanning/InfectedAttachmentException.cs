using System.Text;

namespace Detach.Gateway.Scanning;

/// <summary>
/// The scanner found <see cref="Signature"/> in an attachment and the policy keeps it out of the vault: thrown from
/// the attachment's last read, so the store never commits it. <see cref="InfectedAction.Reject"/> refuses the
/// message; <see cref="InfectedAction.Strip"/> is caught where the attachment is stored and becomes a notice.
/// </summary>
public sealed class InfectedAttachmentException(string fileName, string signature, InfectedAction action)
    : Exception($"Attachment {SafeText(fileName)} contains {SafeText(signature)}.")
{
    public string FileName { get; } = fileName;

    public string Signature { get; } = signature;

    public InfectedAction Action { get; } = action;

    /// <summary>Printable ASCII only, at most 100 characters: names from mail and scanners go into SMTP replies and logs.</summary>
    public static string SafeText(string text)
    {
        var safe = new StringBuilder(Math.Min(text.Length, 100));
        foreach (var c in text)
        {
            if (safe.Length == 100)
            {
                break;
            }

            safe.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return safe.ToString();
    }
}
