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
            DomainOf(envelope.Sender) ?? DomainOf(headers.From) ?? "unknown",
            Math.Max(1, envelope.RecipientCount));
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
