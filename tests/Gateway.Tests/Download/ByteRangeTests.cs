using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

public class ByteRangeTests
{
    [Theory]
    [InlineData("bytes=0-99", 1000, 0, 100)]
    [InlineData("bytes=100000-200000", 1_000_000, 100_000, 100_001)]
    [InlineData("bytes=900-", 1000, 900, 100)]
    [InlineData("bytes=900-5000", 1000, 900, 100)]
    [InlineData("bytes=-10", 1000, 990, 10)]
    [InlineData("bytes=-5000", 1000, 0, 1000)]
    [InlineData("BYTES=5-5", 1000, 5, 1)]
    public void SingleRangesAreServedPartially(string header, long length, long start, long count)
    {
        var range = ByteRange.Parse(header, length);
        Assert.Equal(ByteRangeKind.Partial, range.Kind);
        Assert.Equal(start, range.Start);
        Assert.Equal(count, range.Length);
        Assert.Equal($"bytes {start}-{start + count - 1}/{length}", range.ContentRange(length));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("items=0-5")]
    [InlineData("bytes=5-1")]
    [InlineData("bytes=0-1,5-6")]
    [InlineData("bytes=a-b")]
    [InlineData("bytes=-")]
    [InlineData("bytes=+5-6")]
    [InlineData("bytes=99999999999999999999-")]
    public void UnusableHeadersMeanTheWholeFile(string? header)
    {
        var range = ByteRange.Parse(header, 1000);
        Assert.Equal(ByteRangeKind.Whole, range.Kind);
        Assert.Equal(0, range.Start);
        Assert.Equal(1000, range.Length);
    }

    [Theory]
    [InlineData("bytes=1000-", 1000)]
    [InlineData("bytes=5000-6000", 1000)]
    [InlineData("bytes=-0", 1000)]
    [InlineData("bytes=0-", 0)]
    public void RangesPastTheEndAreUnsatisfiable(string header, long length)
    {
        var range = ByteRange.Parse(header, length);
        Assert.Equal(ByteRangeKind.Unsatisfiable, range.Kind);
        Assert.Equal($"bytes */{length}", range.ContentRange(length));
    }
}
