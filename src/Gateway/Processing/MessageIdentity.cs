using Detach.Mime;
using Detach.Vault;

namespace Detach.Gateway.Processing;

/// <summary>What the index records about a message, from its parsed header fields and its envelope.</summary>
public static class MessageIdentity
{
    /// <summary>Message-ID (to revoke by message), sender domain (shown when a link is gone, and for retention) and recipient count.</summary>
    public static MessageContext Of(MessageHeaders headers, MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(envelope);
        return new MessageContext(
            MessageIdOf(headers) ?? $"<{Guid.NewGuid():N}@detach.invalid>",
            SenderDomainOf(headers, envelope),
            Math.Max(1, envelope.RecipientCount),
            MailboxOf(envelope.Sender));
    }

    /// <summary>
    /// The envelope sender as a mailbox a notice can go to (local@domain, printable, no spaces or brackets, at most 254
    /// characters), or null (the null sender of a bounce, or anything stranger).
    /// </summary>
    public static string? MailboxOf(string? sender)
    {
        var at = sender?.LastIndexOf('@') ?? -1;
        return sender is { Length: <= 254 } && at > 0 && at < sender.Length - 1
            && sender.All(c => c is > ' ' and < (char)0x7F or > (char)0x9F && c is not ('<' or '>' or '(' or ')' or ',' or ';' or '"' or '\\'))
            ? sender
            : null;
    }

    /// <summary>The sender's domain: the envelope's, else the From field's, else "unknown". Retention and the notice's language go by it.</summary>
    public static string SenderDomainOf(MessageHeaders headers, MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(envelope);
        return DomainOf(envelope.Sender) ?? DomainOf(headers.From) ?? "unknown";
    }

    /// <summary>The Message-ID as a printable string of at most 998 characters, or null.</summary>
    public static string? MessageIdOf(MessageHeaders headers) => Clean(headers?.MessageId, 998);

    /// <summary>The domain of the last address-like token: "Ann &lt;ann@example.com&gt;" gives example.com.</summary>
    public static string? DomainOf(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return null;
        }

        var at = address.LastIndexOf('@');
        if (at < 0)
        {
            return null;
        }

        var end = at + 1;
        while (end < address.Length && (char.IsAsciiLetterOrDigit(address[end]) || address[end] is '.' or '-' or '[' or ']' or ':'))
        {
            end++;
        }

        return Clean(address[(at + 1)..end].ToLowerInvariant(), 255);
    }

    private static string? Clean(string? value, int max)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var printable = new string(value.Where(c => !char.IsControl(c)).Take(max).ToArray()).Trim();
        return printable.Length == 0 ? null : printable;
    }
}
