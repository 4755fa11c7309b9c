using System.Text;

namespace Detach.Gateway.Milter;

/// <summary>One top-level header field as it stands in a message: its raw bytes, line ending included.</summary>
public sealed class RawHeaderField(byte[] raw)
{
    public byte[] Raw { get; } = raw;

    private int Colon => Raw.AsSpan().IndexOf((byte)':');

    /// <summary>The field name as the MTA matches it (trailing blanks before the colon dropped).</summary>
    public ReadOnlyMemory<byte> Name => Raw.AsMemory(0, Raw.AsSpan(0, Math.Max(0, Colon)).TrimEnd(" \t"u8).Length);

    /// <summary>What follows the colon, leading space and inner line breaks kept, the final line break dropped.</summary>
    public ReadOnlyMemory<byte> Value
    {
        get
        {
            int end = Raw.Length;
            if (end > 0 && Raw[end - 1] == (byte)'\n')
            {
                end--;
            }

            if (end > 0 && Raw[end - 1] == (byte)'\r')
            {
                end--;
            }

            return Raw.AsMemory(Colon + 1, Math.Max(0, end - Colon - 1));
        }
    }

    public bool SameName(RawHeaderField other) => Ascii.EqualsIgnoreCase(Name.Span, other.Name.Span);

    public bool SameBytes(RawHeaderField other) => Raw.AsSpan().SequenceEqual(other.Raw);

    public override string ToString() => Encoding.Latin1.GetString(Raw);
}

/// <summary>The top-level header block of a spooled message: its fields and where the body starts.</summary>
public sealed record HeaderBlock(IReadOnlyList<RawHeaderField> Fields, long BodyStart)
{
    /// <summary>
    /// Reads the fields from the start of <paramref name="message"/> up to the empty line. A block larger than
    /// <paramref name="maxBytes"/> is an error: the detacher never changes such a message (its root is opaque to it).
    /// </summary>
    public static async Task<HeaderBlock> ReadAsync(Stream message, int maxBytes, CancellationToken cancellationToken)
    {
        message.Position = 0;
        var head = new byte[Math.Min(maxBytes, (int)Math.Min(int.MaxValue, message.Length))];
        int length = await message.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var fields = new List<RawHeaderField>();
        int start = -1;
        int at = 0;
        while (at < length)
        {
            int newline = head.AsSpan(at, length - at).IndexOf((byte)'\n');
            int end = newline < 0 ? length : at + newline + 1;
            var line = head.AsSpan(at, end - at);
            bool blank = line.Length <= 2 && line.TrimEnd("\r\n"u8).IsEmpty && newline >= 0;
            bool continuation = line[0] is (byte)' ' or (byte)'\t';
            if (blank || !continuation)
            {
                if (start >= 0)
                {
                    fields.Add(new RawHeaderField(head.AsSpan(start, at - start).ToArray()));
                }

                start = at;
            }

            if (blank)
            {
                return new HeaderBlock(fields, end);
            }

            at = end;
        }

        throw new InvalidDataException(length >= maxBytes
            ? $"The header block is larger than {maxBytes} bytes."
            : "The message has no empty line after its header.");
    }
}
