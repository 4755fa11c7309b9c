using System.Buffers;

namespace Detach.Fuzz;

/// <summary>Byte sequences cut into segments where the network would have cut them.</summary>
internal static class Segments
{
    /// <summary>Arrival sizes 1, 2, … 13, 1, 2, …: many cuts, none aligned with anything in the input.</summary>
    public static IEnumerable<int> Trickle()
    {
        for (var i = 0; ; i++)
        {
            yield return 1 + (i % 13);
        }
    }

    /// <summary><paramref name="data"/>[start, end) as a sequence with a segment boundary at each of <paramref name="cuts"/> inside it.</summary>
    public static ReadOnlySequence<byte> Of(byte[] data, int start, int end, IEnumerable<int> cuts)
    {
        Segment? first = null, last = null;
        var from = start;
        foreach (var cut in cuts.Where(c => c > start && c < end).Append(end))
        {
            var segment = new Segment(data.AsMemory(from, cut - from), last);
            first ??= segment;
            last = segment;
            from = cut;
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }
}
