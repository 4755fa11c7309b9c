using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Detach.Milter;

/// <summary>What both sides agreed on for one connection.</summary>
/// <param name="MaxDataSize">Largest data of one frame either side may send: 65535, or 256 KiB/1 MiB − 1 when agreed.</param>
public sealed record MilterNegotiated(uint Version, MilterActions Actions, MilterProtocolOptions Options, int MaxDataSize)
{
    public bool Has(MilterProtocolOptions option) => (Options & option) == option;
}

/// <summary>
/// SMFIC_OPTNEG: the MTA offers a version, the actions it allows and the protocol options it understands; the filter
/// answers with what it uses, masked by the offer (an MTA may drop a filter that asks for more). Protocol 6 is
/// what Postfix (milter_protocol = 6) and Sendmail 8.14+ speak; 2 is the oldest still answered.
/// </summary>
public static class MilterNegotiation
{
    public const uint Version = 6;

    public const uint OldestVersion = 2;

    /// <summary>The data size every MTA supports: 64 KiB − 1.</summary>
    public const int DefaultMaxDataSize = 64 * 1024 - 1;

    /// <summary>Events this library never passes on: asked not to be sent when the MTA lets us.</summary>
    public const MilterProtocolOptions Unwanted =
        MilterProtocolOptions.NoHelo | MilterProtocolOptions.NoData | MilterProtocolOptions.NoUnknown;

    /// <summary>Events answered only to say "continue": asked to need no answer (saving a round trip each).</summary>
    public const MilterProtocolOptions Unanswered =
        MilterProtocolOptions.NoConnectReply | MilterProtocolOptions.NoHeloReply | MilterProtocolOptions.NoMailReply
        | MilterProtocolOptions.NoRecipientReply | MilterProtocolOptions.NoDataReply | MilterProtocolOptions.NoUnknownReply
        | MilterProtocolOptions.NoHeaderReply | MilterProtocolOptions.NoBodyReply;

    /// <summary>
    /// The agreement for an offer, and the SMFIC_OPTNEG answer to send. Throws <see cref="MilterProtocolException"/>
    /// when the offer is malformed, too old, or lacks one of <paramref name="requiredActions"/>.
    /// </summary>
    /// <param name="maxFrameLength">The reader's frame limit: a larger data size is not agreed to.</param>
    /// <param name="macroRequests">Per stage, the macros wanted (space-separated); sent only when the MTA allows
    /// SMFIF_SETSYMLIST, and then the MTA sends no others.</param>
    public static (MilterNegotiated Agreed, byte[] Answer) Negotiate(
        ReadOnlySequence<byte> offer, MilterActions requiredActions, int maxFrameLength,
        IReadOnlyDictionary<MilterMacroStage, string>? macroRequests = null)
    {
        if (offer.Length < 12)
        {
            throw new MilterProtocolException($"option negotiation carries {offer.Length} bytes, not 12");
        }

        Span<byte> words = stackalloc byte[12];
        offer.Slice(0, 12).CopyTo(words);
        uint version = BinaryPrimitives.ReadUInt32BigEndian(words);
        var offeredActions = (MilterActions)BinaryPrimitives.ReadUInt32BigEndian(words[4..]);
        var offeredOptions = (MilterProtocolOptions)BinaryPrimitives.ReadUInt32BigEndian(words[8..]);
        if (version < OldestVersion)
        {
            throw new MilterProtocolException($"the MTA speaks milter protocol {version}; at least {OldestVersion} is needed (6 for Postfix's milter_protocol)");
        }

        if ((offeredActions & requiredActions) != requiredActions)
        {
            throw new MilterProtocolException($"the MTA allows actions {offeredActions} but the filter needs {requiredActions}");
        }

        var actions = requiredActions;
        bool macrosWanted = macroRequests is { Count: > 0 } && offeredActions.HasFlag(MilterActions.SetMacroList);
        if (macrosWanted)
        {
            actions |= MilterActions.SetMacroList;
        }

        var options = (Unwanted | Unanswered | MilterProtocolOptions.HeaderLeadingSpace) & offeredOptions;
        int maxData = DefaultMaxDataSize;
        if (offeredOptions.HasFlag(MilterProtocolOptions.MaxData1M) && maxFrameLength > 1024 * 1024)
        {
            options |= MilterProtocolOptions.MaxData1M;
            maxData = 1024 * 1024 - 1;
        }
        else if (offeredOptions.HasFlag(MilterProtocolOptions.MaxData256K) && maxFrameLength > 256 * 1024)
        {
            options |= MilterProtocolOptions.MaxData256K;
            maxData = 256 * 1024 - 1;
        }

        var agreed = new MilterNegotiated(Math.Min(version, Version), actions, options, maxData);
        var payload = new ArrayBufferWriter<byte>(64);
        payload.Write(Words(agreed.Version, (uint)actions, (uint)options));
        if (macrosWanted)
        {
            // The macro lists follow the three words: stage, names NUL, ...
            foreach (var (stage, names) in macroRequests!.OrderBy(p => p.Key))
            {
                payload.Write(Words((uint)stage));
                payload.Write(Encoding.ASCII.GetBytes(names));
                payload.Write([(byte)0]);
            }
        }

        var answer = new ArrayBufferWriter<byte>(payload.WrittenCount + 5);
        MilterFrameWriter.Write(answer, (byte)MilterReply.OptionNegotiation, payload.WrittenSpan);
        return (agreed, answer.WrittenSpan.ToArray());
    }

    private static byte[] Words(params uint[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }
}

/// <summary>The MTA broke the protocol: the connection cannot go on.</summary>
public sealed class MilterProtocolException(string message) : Exception(message);
