using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Detach.Fuzz.Oracles;
using Detach.Milter;

namespace Detach.Fuzz.Targets;

/// <summary>
/// What an MTA sends on one milter connection, as arbitrary bytes: through <see cref="MilterFrameReader"/> (whole and
/// trickled), the event decoders and the library's frame writers, then through a whole <see cref="MilterSession"/>
/// with a recording backend, against an independent model of the protocol (<see cref="MilterModel"/>).
/// </summary>
internal sealed class MilterFrameTarget : FuzzTarget
{
    /// <summary>The session's limit (the smallest it accepts); the reader is also run with a small one.</summary>
    private const int Cap = MilterServerOptions.SmallestFrameLimit;

    private const int SmallCap = 24;

    public override string Name => "milter-frame";

    public override string Invariant =>
        "frames are the same whatever the segmentation and as an independent split finds them; a length outside 1..cap is refused " +
        "as soon as its 4 bytes are in, and nothing is buffered past one frame of the cap; the reader allocates nothing; a frame written " +
        "by MilterFrameWriter reads back to its bytes, header edits and reply codes decode to what was asked; event decoders throw only " +
        "MilterProtocolException; a session ends by itself where the model says (quit, protocol error) or waits, with the model's " +
        "handler events and replies";

    public override void Run(byte[] input)
    {
        // The first call loads types (not in a static constructor: instrumented code runs only under the fuzzer);
        // the allocation check is about the calls after it.
        MilterFrameReader.TryRead(new ReadOnlySequence<byte>([0, 0, 0, 1, 1]), Cap, out _, out _, out _);
        foreach (var cap in (int[])[Cap, SmallCap])
        {
            var expected = MilterModel.Split(input, cap);
            var whole = ReadAll(input, cap, [input.Length]);
            Check(whole.SequenceEqual(expected) && whole.Ending == expected.Ending, $"the reader (cap {cap}) differs from an independent split: {whole.Ending} vs {expected.Ending}");
            var trickled = ReadAll(input, cap, Segments.Trickle());
            Check(trickled.SequenceEqual(expected) && trickled.Ending == expected.Ending, $"the frames (cap {cap}) depend on how the input arrived");
        }

        foreach (var frame in MilterModel.Split(input, Cap))
        {
            CheckWriter(input, frame);
            CheckDecoders(frame);
        }

        MilterSessionCheck.Run(input, Cap);
    }

    /// <summary>The frames as a pipe reader would cut them, bytes arriving in pieces of the given sizes.</summary>
    private static MilterModel.FrameList ReadAll(byte[] input, int cap, IEnumerable<int> arrivals)
    {
        var frames = new MilterModel.FrameList();
        var cuts = new List<int>();
        int available = 0, consumed = 0;
        using var sizes = arrivals.GetEnumerator();
        while (available < input.Length && sizes.MoveNext())
        {
            available = Math.Min(input.Length, available + sizes.Current);
            cuts.Add(available);
            while (true)
            {
                var buffer = Segments.Of(input, consumed, available, cuts);
                long before = GC.GetAllocatedBytesForCurrentThread();
                var status = MilterFrameReader.TryRead(buffer, cap, out var frame, out var end, out long declared);
                Check(GC.GetAllocatedBytesForCurrentThread() == before, "the frame reader allocated");
                if (status == MilterFrameStatus.Invalid)
                {
                    Check(declared == BinaryPrimitives.ReadUInt32BigEndian(input.AsSpan(consumed)), "the refused length is not the length word");
                    Check(buffer.GetOffset(end) == buffer.GetOffset(buffer.Start), "a refused frame consumed bytes");
                    frames.Ending = new MilterModel.Ending(MilterModel.EndingKind.Invalid, consumed, available - consumed);
                    return frames;
                }

                if (status == MilterFrameStatus.Incomplete)
                {
                    Check(buffer.GetOffset(end) == buffer.GetOffset(buffer.Start), "an incomplete frame consumed bytes");
                    Check(available - consumed < 4 || available - consumed < 4 + declared, "incomplete though the whole frame is in");
                    Check(available - consumed < MilterFrameReader.LengthBytes + cap, "more than one frame of the cap was buffered");
                    break;
                }

                Check(declared == 1 + frame.Data.Length && declared <= cap, "a frame's data does not match its length");
                var length = (int)(buffer.GetOffset(end) - buffer.GetOffset(buffer.Start));
                Check(length == MilterFrameReader.LengthBytes + declared, "a frame consumed other than its length");
                frames.Add(new MilterModel.Frame(consumed, frame.Code, frame.Data.ToArray()));
                consumed += length;
            }
        }

        frames.Ending = consumed == input.Length
            ? new MilterModel.Ending(MilterModel.EndingKind.Clean, consumed, 0)
            : new MilterModel.Ending(MilterModel.EndingKind.Truncated, consumed, 0);
        return frames;
    }

    private static void CheckWriter(byte[] input, MilterModel.Frame frame)
    {
        var written = new ArrayBufferWriter<byte>();
        MilterFrameWriter.Write(written, frame.Code, frame.Data);
        Check(written.WrittenSpan.SequenceEqual(input.AsSpan(frame.Offset, 5 + frame.Data.Length)), "a frame written again differs from its bytes");
    }

    /// <summary>Each decoder on every frame, whatever its code: only the documented exception may escape.</summary>
    private static void CheckDecoders(MilterModel.Frame frame)
    {
        // Split at every byte: the decoders see frames as a pipe hands them over, in pieces.
        var data = Segments.Of(frame.Data, 0, frame.Data.Length, Enumerable.Range(1, frame.Data.Length));
        var expectedClient = MilterModel.Client(frame.Data);
        Decode(expectedClient is null, () =>
        {
            var client = MilterEventData.Client(data);
            Check(client == expectedClient, $"connect decoded as {client}");
        });
        var address = MilterEventData.Address(data);
        Check(address == MilterModel.Address(frame.Data), $"an address decoded as '{address}'");
        CheckReplyCode(address);
        var expectedHeader = MilterModel.Header(frame.Data);
        Decode(expectedHeader is null, () =>
        {
            var (name, value) = MilterEventData.Header(frame.Data);
            Check(expectedHeader is { } h && name.Span.SequenceEqual(h.Name) && value.Span.SequenceEqual(h.Value), "a header decoded differently");
            var again = MilterEventData.Header((byte[])[.. name.Span, 0, .. value.Span, 0]);
            Check(again.Name.Span.SequenceEqual(name.Span) && again.Value.Span.SequenceEqual(value.Span), "a header written again decodes differently");
            foreach (var edit in (MilterHeaderEdit[])[MilterHeaderEdit.Change(frame.Code, name, value), MilterHeaderEdit.Insert(0, name, value), MilterHeaderEdit.Add(name, value)])
            {
                foreach (var leadingSpace in (bool[])[true, false])
                {
                    var written = new ArrayBufferWriter<byte>();
                    MilterFrameWriter.WriteHeaderEdit(written, edit, leadingSpace);
                    Check(written.WrittenSpan.SequenceEqual(MilterModel.HeaderEdit(edit, leadingSpace)), $"header edit {edit.Kind} (leading space {leadingSpace}) written wrong");
                }
            }
        });
        var expectedAnswer = MilterModel.NegotiationAnswer(frame.Data, macros: false);
        Decode(expectedAnswer is null, () =>
        {
            var (agreed, answer) = MilterNegotiation.Negotiate(data, MilterModel.RequiredActions, Cap);
            Check(expectedAnswer is not null && answer.AsSpan().SequenceEqual(expectedAnswer), "a negotiation answer differs from the model's");
            Check(agreed.MaxDataSize == MilterNegotiation.DefaultMaxDataSize, "a larger data size than the reader's cap was agreed");
        });
    }

    /// <summary>A reply text (here: an address the MTA sent) the verdict takes is written as "code enhanced text" NUL.</summary>
    private static void CheckReplyCode(string text)
    {
        MilterVerdict verdict;
        try
        {
            verdict = MilterVerdict.Reply(451, "4.3.0", text);
        }
        catch (ArgumentException)
        {
            Check(!Ascii.IsValid(text) || text.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0, "a one-line ASCII reply text was refused");
            return;
        }

        var written = new ArrayBufferWriter<byte>();
        MilterFrameWriter.WriteReplyCode(written, verdict.SmtpReply!);
        var expected = Encoding.ASCII.GetBytes("451 4.3.0 " + text.Replace("%", "%%", StringComparison.Ordinal) + "\0");
        Check(written.WrittenSpan.SequenceEqual(MilterModel.Encode('y', expected)), "a reply code frame is not the reply text");
    }

    /// <summary>Runs a decoder; its documented refusal is expected exactly when the model finds the frame malformed.</summary>
    private static void Decode(bool malformed, Action decode)
    {
        try
        {
            decode();
        }
        catch (MilterProtocolException e)
        {
            Check(malformed, "a well-formed frame was refused: " + e.Message);
        }
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() => MilterModel.Seeds();
}
