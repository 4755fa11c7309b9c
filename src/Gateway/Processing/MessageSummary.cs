using System.Text;
using Detach.Mime;

namespace Detach.Gateway.Processing;

/// <summary>
/// The two top-level header fields the index records, read from the head of a spooled message without
/// parsing the rest: Message-ID (to revoke by message) and the From domain (shown when a link is gone).
/// </summary>
public sealed record MessageSummary(string? MessageId, string? FromDomain)
{
    private const int MaxHeaderBytes = 256 * 1024;

    public static async Task<MessageSummary> ReadAsync(Stream message, CancellationToken cancellationToken)
    {
        var start = message.Position;
        var buffer = new byte[Math.Min(MaxHeaderBytes, Math.Max(0, message.Length - start))];
        var read = await message.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        message.Position = start;
        return Parse(buffer.AsSpan(0, read));
    }

    public static MessageSummary Parse(ReadOnlySpan<byte> head)
    {
        string? messageId = null, from = null;
        var offset = 0;
        while (offset < head.Length)
        {
            var end = FieldEnd(head, offset);
            var field = head[offset..end];
            if (field.Length == 0 || field[0] is (byte)'\r' or (byte)'\n')
            {
                break; // the empty line ends the header block
            }

            var colon = field.IndexOf((byte)':');
            if (colon > 0)
            {
                var name = Encoding.ASCII.GetString(field[..colon]).Trim();
                if (messageId is null && name.Equals("Message-ID", StringComparison.OrdinalIgnoreCase))
                {
                    messageId = new HeaderField(name, field.ToArray(), offset).Value;
                }
                else if (from is null && name.Equals("From", StringComparison.OrdinalIgnoreCase))
                {
                    from = new HeaderField(name, field.ToArray(), offset).Value;
                }
            }

            offset = end;
        }

        return new MessageSummary(Clean(messageId, 998), DomainOf(from));
    }

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

    private static int FieldEnd(ReadOnlySpan<byte> head, int offset)
    {
        var position = offset;
        while (true)
        {
            var newline = head[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return head.Length;
            }

            position += newline + 1;
            if (position >= head.Length || head[position] is not ((byte)' ' or (byte)'\t'))
            {
                return position; // the next line does not continue this field
            }
        }
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
