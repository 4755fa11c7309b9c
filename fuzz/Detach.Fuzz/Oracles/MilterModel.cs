using System.Buffers.Binary;
using System.Text;
using Detach.Milter;

namespace Detach.Fuzz.Oracles;

/// <summary>
/// The milter protocol as the MTA's side sees it, written from the protocol description (Sendmail's mfapi/mfdef,
/// Postfix's milter8.c behaviour), not from src/Milter: the frame split, the event data, the filter's frames.
/// </summary>
internal static class MilterModel
{
    /// <summary>What the session is configured to need (MilterServerOptions' default): add and change headers, change the body.</summary>
    public const MilterActions RequiredActions = MilterActions.AddHeaders | MilterActions.ChangeHeaders | MilterActions.ChangeBody;

    public enum EndingKind
    {
        /// <summary>The input ends on a frame boundary.</summary>
        Clean,

        /// <summary>The input ends inside a frame.</summary>
        Truncated,

        /// <summary>A length word of 0 or over the cap, at <see cref="Ending.Offset"/>.</summary>
        Invalid,
    }

    /// <param name="Offset">Where the last frame read ended (or the refused length word starts).</param>
    /// <param name="Buffered">For <see cref="EndingKind.Invalid"/> from a reader: the bytes it had when it refused (the split says 4).</param>
    public readonly record struct Ending(EndingKind Kind, int Offset, int Buffered)
    {
        public bool Equals(Ending other) => Kind == other.Kind && Offset == other.Offset;

        public override int GetHashCode() => HashCode.Combine(Kind, Offset);
    }

    public sealed record Frame(int Offset, byte Code, byte[] Data)
    {
        public bool Equals(Frame? other) => other is not null && Offset == other.Offset && Code == other.Code && Data.AsSpan().SequenceEqual(other.Data);

        public override int GetHashCode() => HashCode.Combine(Offset, Code, Data.Length);

        public int End => Offset + 5 + Data.Length;
    }

    public sealed class FrameList : List<Frame>
    {
        public Ending Ending { get; set; }
    }

    /// <summary>Frames in order: 4-byte big-endian length (code byte and data), code, data.</summary>
    public static FrameList Split(byte[] input, int cap)
    {
        var frames = new FrameList();
        int at = 0;
        while (input.Length - at >= 4)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(input.AsSpan(at));
            if (length == 0 || length > (uint)cap)
            {
                frames.Ending = new Ending(EndingKind.Invalid, at, 4);
                return frames;
            }

            if (input.Length - at - 4 < length)
            {
                break;
            }

            frames.Add(new Frame(at, input[at + 4], input[(at + 5)..(at + 4 + (int)length)]));
            at += 4 + (int)length;
        }

        frames.Ending = new Ending(at == input.Length ? EndingKind.Clean : EndingKind.Truncated, at, 0);
        return frames;
    }

    public static byte[] Encode(char code, ReadOnlySpan<byte> data)
    {
        var frame = new byte[5 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)(1 + data.Length));
        frame[4] = (byte)code;
        data.CopyTo(frame.AsSpan(5));
        return frame;
    }

    private static int Nul(ReadOnlySpan<byte> data) => data.IndexOf((byte)0);

    /// <summary>SMFIC_CONNECT: host NUL, family, then (family not 'U') port (2 bytes) and address NUL; null when malformed.</summary>
    public static MilterClient? Client(byte[] data)
    {
        int nul = Nul(data);
        if (nul < 0 || nul + 1 >= data.Length)
        {
            return null;
        }

        var host = Encoding.UTF8.GetString(data, 0, nul);
        var family = (char)data[nul + 1];
        if (family == 'U')
        {
            return new MilterClient(host, family, 0, "");
        }

        var rest = data.AsSpan(nul + 2);
        if (rest.Length < 2)
        {
            return null;
        }

        var address = rest[2..];
        int end = Nul(address);
        return new MilterClient(host, family, BinaryPrimitives.ReadUInt16BigEndian(rest), Encoding.ASCII.GetString(end < 0 ? address : address[..end]));
    }

    /// <summary>MAIL/RCPT: the first string (ESMTP arguments follow), trimmed, angle brackets removed.</summary>
    public static string Address(byte[] data)
    {
        int nul = Nul(data);
        var text = Encoding.UTF8.GetString(nul < 0 ? data : data[..nul]).Trim();
        return text.Length >= 2 && text.StartsWith('<') && text.EndsWith('>') ? text[1..^1] : text;
    }

    /// <summary>SMFIC_HEADER: name NUL value [NUL]; null without the first NUL.</summary>
    public static (byte[] Name, byte[] Value)? Header(byte[] data)
    {
        int nul = Nul(data);
        if (nul < 0)
        {
            return null;
        }

        var value = data[(nul + 1)..];
        int end = Nul(value);
        return (data[..nul], end < 0 ? value : value[..end]);
    }

    /// <summary>SMFIR_CHGHEADER/INSHEADER/ADDHEADER as the MTA reads it: [index] name NUL value NUL, folds as LF.</summary>
    public static byte[] HeaderEdit(MilterHeaderEdit edit, bool leadingSpace)
    {
        var value = edit.Value.ToArray().AsEnumerable();
        if (!leadingSpace && edit.Value.Span is [(byte)' ', ..])
        {
            value = value.Skip(1);
        }

        var bytes = value.ToArray();
        var lf = bytes.Where((b, i) => !(b == '\r' && i + 1 < bytes.Length && bytes[i + 1] == '\n'));
        var index = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(index, (uint)edit.Index);
        return edit.Kind switch
        {
            MilterHeaderEditKind.Change => Encode('m', [.. index, .. edit.Name.Span, 0, .. lf, 0]),
            MilterHeaderEditKind.Insert => Encode('i', [.. index, .. edit.Name.Span, 0, .. lf, 0]),
            _ => Encode('h', [.. edit.Name.Span, 0, .. lf, 0]),
        };
    }

    /// <summary>The SMFIC_OPTNEG answer of a filter that needs <see cref="RequiredActions"/>, with a 64 KiB reader
    /// limit (so no larger data size) and, if <paramref name="macros"/>, the macro list "i" at end of message; null
    /// when the offer is to be refused (short, version below 2, a required action not allowed).</summary>
    public static byte[]? NegotiationAnswer(byte[] offer, bool macros)
    {
        if (offer.Length < 12)
        {
            return null;
        }

        uint version = BinaryPrimitives.ReadUInt32BigEndian(offer);
        var actions = (MilterActions)BinaryPrimitives.ReadUInt32BigEndian(offer.AsSpan(4));
        var options = (MilterProtocolOptions)BinaryPrimitives.ReadUInt32BigEndian(offer.AsSpan(8));
        if (version < 2 || (actions & RequiredActions) != RequiredActions)
        {
            return null;
        }

        bool macroList = macros && actions.HasFlag(MilterActions.SetMacroList);
        const MilterProtocolOptions used = MilterProtocolOptions.NoHelo | MilterProtocolOptions.NoData | MilterProtocolOptions.NoUnknown
            | MilterProtocolOptions.NoConnectReply | MilterProtocolOptions.NoHeloReply | MilterProtocolOptions.NoMailReply
            | MilterProtocolOptions.NoRecipientReply | MilterProtocolOptions.NoDataReply | MilterProtocolOptions.NoUnknownReply
            | MilterProtocolOptions.NoHeaderReply | MilterProtocolOptions.NoBodyReply | MilterProtocolOptions.HeaderLeadingSpace;
        var answer = new byte[macroList ? 12 + 4 + 2 : 12];
        BinaryPrimitives.WriteUInt32BigEndian(answer, Math.Min(version, 6));
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), (uint)(RequiredActions | (macroList ? MilterActions.SetMacroList : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(8), (uint)(options & used));
        if (macroList)
        {
            BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(12), (uint)MilterMacroStage.EndOfMessage);
            answer[16] = (byte)'i';
        }

        return Encode('O', answer);
    }

    // ---- seeds ----------------------------------------------------------------------------------

    private static byte[] Word(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] Strings(params string[] values) => values.SelectMany(v => Encoding.UTF8.GetBytes(v).Append((byte)0)).ToArray();

    private static byte[] F(char code, params string[] strings) => Encode(code, Strings(strings));

    private static byte[] Offer(uint version, uint actions, uint options) => Encode('O', [.. Word(version), .. Word(actions), .. Word(options)]);

    private static byte[] Connect(string host, char family, ushort port, string address) =>
        Encode('C', [.. Strings(host), (byte)family, (byte)(port >> 8), (byte)port, .. Strings(address)]);

    private static byte[] Concat(params byte[][] frames) => frames.SelectMany(f => f).ToArray();

    public static IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        // Debian's miltertest running tests/Milter.Tests/Scripts/plain.lua and edits.lua, captured byte for byte.
        yield return ("miltertest-plain", Convert.FromHexString(
            "0000000d4f00000006000001ff001fffff0000002343636c69656e742e6578616d706c652e74657374003430393139322e302e322e313000000000144d3c616e6e40" +
            "6578616d706c652e746573743e0000000014523c626f62406578616d706c652e746573743e00000000114c5375626a656374002020706c61696e00000000014e00" +
            "00000141000000144d3c616e6e406578616d706c652e746573743e0000000014523c626f62406578616d706c652e746573743e00000000114c5375626a65637400" +
            "2020706c61696e00000000014e00000001410000000151"));
        yield return ("miltertest-edits", Convert.FromHexString(
            "0000000d4f00000006000001ff001fffff0000002343636c69656e742e6578616d706c652e74657374003430393139322e302e322e3130000000001b444d7b6175" +
            "74685f61757468656e7d00616e6e0069005149443100000000144d3c616e6e406578616d706c652e746573743e0000000014523c626f62406578616d706c652e74" +
            "6573743e00000000144c5375626a6563740020206f726967696e616c000000000f4c582d52656d6f76650020206d6500000000014e0000000b426f6c6420626f64" +
            "790d0a0000000145"));

        var postfix = Offer(6, 0x1FF, 0x1FFFFF);
        var message = Concat(
            F('D', "M", "{auth_authen}", "ann", "i", "4XyZ1"), F('M', "<ann@example.org>", "SIZE=1200", "BODY=8BITMIME"),
            F('R', "<bob@example.net>"), F('R', "<carl@example.net>", "NOTIFY=NEVER"),
            F('L', "From", " Ann <ann@example.org>"), F('L', "Subject", " a long\n\tfolded subject"), F('L', "Content-Type", " multipart/mixed; boundary=x"),
            F('N'), Encode('B', "--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n"u8), Encode('B', "--x--\r\n"u8), F('D', "E", "i", "4XyZ1"), F('E'));
        yield return ("postfix-two-connections", Concat(postfix,
            F('D', "C", "j", "mx.example.org", "{daemon_name}", "mx", "v", "Postfix 3.7"), Connect("client.example.net", '4', 40123, "192.0.2.7"),
            message, F('K'), Connect("[2001:db8::1]", '6', 25, "2001:db8::1"), message, F('A'), F('Q')));
        yield return ("old-mta-every-reply", Concat(Offer(2, 0x13, 0),
            Connect("localhost", 'L', 0, "/run/socket"), F('H', "client.example"), F('M', "<>"), F('R', "<postmaster>"), F('T'),
            F('U', "XYZZY"), F('L', "Subject", "no leading space"), F('N'), Encode('B', "line\r\n"u8), Encode('E', "last chunk with eom\r\n"u8), F('Q')));
        yield return ("too-many-headers", Concat(postfix, Connect("h", 'U', 0, ""), F('M', "<a@b>"),
            F('L', "A", " 1"), F('L', "B", " 2"), F('L', "C", " 3"), F('L', "D", " 4"), Encode('L', "no nul past the cap"u8), F('N'), F('E')));
        yield return ("renegotiate", Concat(postfix, Offer(6, 0x13, 0x100000 | 0x80), F('M', "<%x@example.org>"), F('L', "X", " a\r\n b"), F('N'), F('E'), F('Q')));
        yield return ("offer-1m", Concat(Offer(6, 0x1FF, 0x3FFFFFFF), F('M', "<ünicode@exämple.org>"), F('Q')));

        // Edge cases: each ends the connection a different way.
        yield return ("length-zero", [0, 0, 0, 0, (byte)'O']);
        yield return ("length-over-cap", Concat(postfix, [0, 1, 0, 1, (byte)'B']));
        yield return ("length-max", [0xFF, 0xFF, 0xFF, 0xFF]);
        yield return ("truncated-frame", Concat(postfix, [0, 0, 0, 9, (byte)'M', (byte)'<']));
        yield return ("before-negotiation", F('M', "<a@b>"));
        yield return ("unknown-command", Concat(postfix, F('Z')));
        yield return ("connect-without-nul", Concat(postfix, Encode('C', "host"u8)));
        yield return ("connect-without-port", Concat(postfix, Encode('C', [.. "host"u8, 0, (byte)'4', 1])));
        yield return ("header-without-nul", Concat(postfix, Encode('L', "Subject"u8)));
        yield return ("empty-macro", Concat(postfix, F('D')));
        yield return ("short-offer", Encode('O', [0, 0, 0, 6, 0, 0]));
        yield return ("version-1", Offer(1, 0x1FF, 0));
        yield return ("no-body-change", Offer(6, 0x11, 0));
    }
}
