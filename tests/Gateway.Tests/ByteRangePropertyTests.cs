using System.Globalization;
using CsCheck;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests;

/// <summary>The Range header against RFC 9110 section 14.1.2 for any representation length and any single range (CsCheck).</summary>
public class ByteRangePropertyTests
{
    /// <summary>Positions of up to 18 digits are read; longer ones make the header ignored (RFC 9110 allows a server to).</summary>
    private const long MaxPosition = 999_999_999_999_999_999L;

    private static readonly Gen<long> Length = Gen.OneOf(Gen.Long[0, 3], Gen.Long[0, 1L << 20], Gen.Long[0, MaxPosition]);

    [Fact]
    public void A_first_last_range_is_the_bytes_it_names_clipped_to_the_representation()
    {
        var cases =
            from length in Length
            from first in Gen.OneOf(Gen.Long[0, Math.Min(length + 2, MaxPosition)], Gen.Long[0, MaxPosition])
            from last in Gen.OneOf(Gen.Long[0, Math.Min(length + 2, MaxPosition)], Gen.Long[first, MaxPosition], Gen.Long[0, first])
            select (length, first, last);
        cases.Sample((length, first, last) =>
        {
            var range = ByteRange.Parse(string.Create(CultureInfo.InvariantCulture, $"bytes={first}-{last}"), length);
            if (last < first)
            {
                Assert.Equal(new ByteRange(ByteRangeKind.Whole, 0, length), range);
            }
            else if (first >= length)
            {
                Assert.Equal(ByteRangeKind.Unsatisfiable, range.Kind);
            }
            else
            {
                Assert.Equal(new ByteRange(ByteRangeKind.Partial, first, Math.Min(last, length - 1) - first + 1), range);
            }
        }, iter: 3000, threads: 1);
    }

    [Fact]
    public void An_open_range_runs_to_the_end_and_a_suffix_range_takes_the_last_bytes()
    {
        Gen.Select(Length, Gen.Long[0, MaxPosition]).Sample((length, n) =>
        {
            var open = ByteRange.Parse(string.Create(CultureInfo.InvariantCulture, $"bytes={n}-"), length);
            Assert.Equal(n >= length ? new ByteRange(ByteRangeKind.Unsatisfiable, 0, 0) : new ByteRange(ByteRangeKind.Partial, n, length - n), open);

            var suffix = ByteRange.Parse(string.Create(CultureInfo.InvariantCulture, $"bytes=-{n}"), length);
            Assert.Equal(n == 0 || length == 0 ? new ByteRange(ByteRangeKind.Unsatisfiable, 0, 0) : new ByteRange(ByteRangeKind.Partial, length - Math.Min(n, length), Math.Min(n, length)), suffix);
        }, iter: 3000, threads: 1);
    }

    [Fact]
    public void A_position_of_more_than_18_digits_makes_the_header_ignored()
    {
        Gen.Select(Length, Gen.Long[MaxPosition + 1, long.MaxValue], Gen.Bool).Sample((length, n, suffix) =>
        {
            var header = suffix ? string.Create(CultureInfo.InvariantCulture, $"bytes=-{n}") : string.Create(CultureInfo.InvariantCulture, $"bytes={n}-");
            Assert.Equal(new ByteRange(ByteRangeKind.Whole, 0, length), ByteRange.Parse(header, length));
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void A_partial_answer_is_inside_the_representation_and_its_content_range_reads_back()
    {
        var header = Gen.OneOf(Gen.String[Gen.Char["bytes=0123456789-, "], 0, 30], Gen.String);
        Gen.Select(Length, header).Sample((length, text) =>
        {
            var range = ByteRange.Parse(text, length);
            if (range.Kind != ByteRangeKind.Partial)
            {
                return;
            }

            Assert.True(range.Start >= 0 && range.Length >= 1 && range.End < length, $"{range} outside [0, {length})");
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{range.End}/{length}"), range.ContentRange(length));
            Assert.Equal(range, ByteRange.Parse(string.Create(CultureInfo.InvariantCulture, $"bytes={range.Start}-{range.End}"), length));
        }, iter: 3000, threads: 1);
    }
}
