using System.Buffers;
using System.Text;

namespace Detach.Milter;

/// <summary>The data of the MTA's event frames, taken apart (pure functions, so they are tested without a session).</summary>
public static class MilterEventData
{
    /// <summary>SMFIC_CONNECT: host name NUL, family, then (unless unknown) port and address NUL.</summary>
    public static MilterClient Client(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> host, 0) || !reader.TryRead(out byte family))
        {
            throw new MilterProtocolException("a malformed connect frame");
        }

        int port = 0;
        string address = "";
        if (family != (byte)'U')
        {
            if (!reader.TryReadBigEndian(out short rawPort))
            {
                throw new MilterProtocolException("a connect frame without its port");
            }

            port = (ushort)rawPort;
            address = Encoding.ASCII.GetString(reader.TryReadTo(out ReadOnlySequence<byte> text, 0) ? text : reader.UnreadSequence);
        }

        return new MilterClient(Encoding.UTF8.GetString(host), (char)family, port, address);
    }

    /// <summary>The address of a MAIL or RCPT frame (its first string; ESMTP arguments follow), without angle brackets.</summary>
    public static string Address(ReadOnlySequence<byte> data)
    {
        var reader = new SequenceReader<byte>(data);
        var first = reader.TryReadTo(out ReadOnlySequence<byte> text, 0) ? text : data;
        var address = Encoding.UTF8.GetString(first).Trim();
        return address.Length >= 2 && address[0] == '<' && address[^1] == '>' ? address[1..^1] : address;
    }

    /// <summary>SMFIC_HEADER: name NUL value NUL.</summary>
    public static (ReadOnlyMemory<byte> Name, ReadOnlyMemory<byte> Value) Header(ReadOnlyMemory<byte> data)
    {
        int nul = data.Span.IndexOf((byte)0);
        if (nul < 0)
        {
            throw new MilterProtocolException("a header frame without the NUL after its name");
        }

        var value = data[(nul + 1)..];
        return (data[..nul], value.Span.IndexOf((byte)0) is var end and >= 0 ? value[..end] : value);
    }
}
