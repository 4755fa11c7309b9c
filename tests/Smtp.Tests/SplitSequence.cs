using System.Buffers;

namespace Detach.Smtp.Tests;

/// <summary>Builds multi-segment sequences so parsers meet input split at any byte.</summary>
internal sealed class SplitSequence : ReadOnlySequenceSegment<byte>
{
    private SplitSequence(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>The bytes as a sequence with segment boundaries at each of <paramref name="cuts"/>.</summary>
    public static ReadOnlySequence<byte> Create(byte[] data, params int[] cuts)
    {
        int[] points = cuts.Where(c => c > 0 && c < data.Length).Distinct().Order().ToArray();
        if (points.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var first = new SplitSequence(data.AsMemory(0, points[0]), 0);
        SplitSequence last = first;
        for (int i = 0; i < points.Length; i++)
        {
            int start = points[i];
            int end = i + 1 < points.Length ? points[i + 1] : data.Length;
            var next = new SplitSequence(data.AsMemory(start, end - start), start);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
