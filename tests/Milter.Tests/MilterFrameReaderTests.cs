using System.Buffers;
using Detach.Smtp.Tests;

namespace Detach.Milter.Tests;

public sealed class MilterFrameReaderTests
{
    private static readonly byte[] Header = TestMta.Header("Subject", " Hello");

    [Fact]
    public void A_frame_split_at_every_byte_is_incomplete_until_its_last_byte()
    {
        for (int cut = 0; cut <= Header.Length; cut++)
        {
            // Only the first `cut` bytes have arrived, in two segments split everywhere.
            var arrived = Header[..cut];
            for (int split = 0; split <= arrived.Length; split++)
            {
                var status = MilterFrameReader.TryRead(SplitSequence.Create(arrived, split), 1024, out var frame, out _, out _);
                if (cut < Header.Length)
                {
                    Assert.Equal(MilterFrameStatus.Incomplete, status);
                }
                else
                {
                    Assert.Equal(MilterFrameStatus.Complete, status);
                    Assert.Equal((byte)'L', frame.Code);
                    Assert.Equal("Subject\0 Hello\0"u8.ToArray(), frame.Data.ToArray());
                }
            }
        }
    }

    [Fact]
    public void Two_frames_back_to_back_are_read_one_at_a_time_at_any_split()
    {
        var both = TestMta.Body("abc").Concat(TestMta.Command('E')).ToArray();
        for (int split = 0; split <= both.Length; split++)
        {
            var buffer = SplitSequence.Create(both, split);
            Assert.Equal(MilterFrameStatus.Complete, MilterFrameReader.TryRead(buffer, 1024, out var first, out var end, out _));
            Assert.Equal((byte)'B', first.Code);
            Assert.Equal("abc"u8.ToArray(), first.Data.ToArray());
            Assert.Equal(MilterFrameStatus.Complete, MilterFrameReader.TryRead(buffer.Slice(end), 1024, out var second, out end, out _));
            Assert.Equal((byte)'E', second.Code);
            Assert.True(second.Data.IsEmpty);
            Assert.Equal(buffer.End, end);
        }
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(65537u)]
    [InlineData(uint.MaxValue)]
    public void A_length_of_zero_or_over_the_limit_is_refused_from_the_length_word_alone(uint length)
    {
        // Nothing but the four length bytes: the verdict comes before any data is waited for.
        var status = MilterFrameReader.TryRead(new ReadOnlySequence<byte>(TestMta.Word(length)), 65536, out _, out _, out var declared);
        Assert.Equal(MilterFrameStatus.Invalid, status);
        Assert.Equal(length, (ulong)declared);
    }

    [Fact]
    public void A_length_at_the_limit_waits_for_its_data()
    {
        Assert.Equal(MilterFrameStatus.Incomplete, MilterFrameReader.TryRead(new ReadOnlySequence<byte>(TestMta.Word(65536)), 65536, out _, out _, out _));
        Assert.Equal(MilterFrameStatus.Incomplete, MilterFrameReader.TryRead(new ReadOnlySequence<byte>(new byte[3]), 65536, out _, out _, out _));
    }
}
