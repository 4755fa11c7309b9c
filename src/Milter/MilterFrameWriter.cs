using System.Buffers;
using System.Buffers.Binary;

namespace Detach.Milter;

/// <summary>Writes frames into a buffer writer (the session's pipe): length word, code, data.</summary>
public static class MilterFrameWriter
{
    /// <summary>A frame with no data (continue, accept, progress...).</summary>
    public static void Write(IBufferWriter<byte> writer, byte code) => Write(writer, code, []);

    public static void Write(IBufferWriter<byte> writer, byte code, ReadOnlySpan<byte> data)
    {
        var span = writer.GetSpan(MilterFrameReader.LengthBytes + 1 + data.Length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)(data.Length + 1));
        span[MilterFrameReader.LengthBytes] = code;
        data.CopyTo(span[(MilterFrameReader.LengthBytes + 1)..]);
        writer.Advance(MilterFrameReader.LengthBytes + 1 + data.Length);
    }

    /// <summary>
    /// A header change, insertion or addition: [index] name NUL value NUL. A CR before an LF in the value is dropped:
    /// the MTAs keep lines without CR and take LF as the fold (Postfix would store a CRLF as a doubled CR).
    /// </summary>
    public static void WriteHeaderEdit(IBufferWriter<byte> writer, MilterHeaderEdit edit, bool leadingSpaceKept)
    {
        var value = edit.Value.Span;
        if (!leadingSpaceKept && value.Length > 0 && value[0] == (byte)' ')
        {
            // Without SMFIP_HDR_LEADSPC the MTA puts one space after the colon itself.
            value = value[1..];
        }

        bool indexed = edit.Kind != MilterHeaderEditKind.Add;
        int length = 1 + (indexed ? 4 : 0) + edit.Name.Length + 1 + value.Length + 1;
        var span = writer.GetSpan(MilterFrameReader.LengthBytes + length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)length);
        span[4] = (byte)(edit.Kind switch
        {
            MilterHeaderEditKind.Change => MilterReply.ChangeHeader,
            MilterHeaderEditKind.Insert => MilterReply.InsertHeader,
            _ => MilterReply.AddHeader,
        });
        int at = 5;
        if (indexed)
        {
            BinaryPrimitives.WriteUInt32BigEndian(span[at..], (uint)edit.Index);
            at += 4;
        }

        edit.Name.Span.CopyTo(span[at..]);
        at += edit.Name.Length;
        span[at++] = 0;
        int written = 0;
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == (byte)'\r' && i + 1 < value.Length && value[i + 1] == (byte)'\n')
            {
                continue;
            }

            span[at + written++] = value[i];
        }

        at += written;
        span[at++] = 0;

        // Dropped CRs shorten the frame: write its true length.
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)(at - MilterFrameReader.LengthBytes));
        writer.Advance(at);
    }

    /// <summary>An SMTP reply: "451 4.3.0 text" NUL (the MTA checks its shape).</summary>
    public static void WriteReplyCode(IBufferWriter<byte> writer, string reply)
    {
        int length = System.Text.Encoding.ASCII.GetByteCount(reply);
        var span = writer.GetSpan(MilterFrameReader.LengthBytes + 2 + length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)(length + 2));
        span[4] = (byte)MilterReply.ReplyCode;
        System.Text.Encoding.ASCII.GetBytes(reply, span[5..]);
        span[5 + length] = 0;
        writer.Advance(MilterFrameReader.LengthBytes + 2 + length);
    }
}
