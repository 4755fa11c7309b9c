using System.Buffers;

namespace Detach.Milter;

/// <summary>One packet: a command (or reply) byte and its data, which stays valid until the reader advances.</summary>
public readonly record struct MilterFrame(byte Code, ReadOnlySequence<byte> Data);

public enum MilterFrameStatus
{
    /// <summary>More bytes are needed; nothing was consumed.</summary>
    Incomplete,

    /// <summary>A whole frame was read.</summary>
    Complete,

    /// <summary>The length word is 0 or over the limit: the stream cannot be trusted any further.</summary>
    Invalid,
}

/// <summary>
/// Cuts frames out of buffered bytes: a big-endian 32-bit length (the code byte plus the data), then the code, then
/// the data. The length is checked (1 ≤ length ≤ the limit) as soon as its four bytes are there, so a peer never
/// makes us wait for, or buffer, more than one frame's limit.
/// </summary>
public static class MilterFrameReader
{
    /// <summary>Bytes of the length word.</summary>
    public const int LengthBytes = 4;

    public static MilterFrameStatus TryRead(in ReadOnlySequence<byte> buffer, int maxLength, out MilterFrame frame, out SequencePosition consumed, out long declaredLength)
    {
        frame = default;
        consumed = buffer.Start;
        declaredLength = 0;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int raw))
        {
            return MilterFrameStatus.Incomplete;
        }

        declaredLength = (uint)raw;
        if (declaredLength < 1 || declaredLength > maxLength)
        {
            return MilterFrameStatus.Invalid;
        }

        if (reader.Remaining < declaredLength)
        {
            return MilterFrameStatus.Incomplete;
        }

        reader.TryRead(out byte code);
        var data = buffer.Slice(reader.Position, declaredLength - 1);
        frame = new MilterFrame(code, data);
        consumed = data.End;
        return MilterFrameStatus.Complete;
    }
}
