using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Detach.Gateway.Http;

namespace Detach.Fuzz.Targets;

/// <summary>The gateway's Range header parser: 5 bytes of representation length, then the header value.</summary>
internal sealed class HttpRangeTarget : FuzzTarget
{
    public override string Name => "http-range";

    public override string Invariant =>
        "a partial range lies inside the representation and is not empty; whole means [0, length); a range written back " +
        "(Range and Content-Range) parses to the same range";

    public override void Run(byte[] input)
    {
        if (input.Length < 5)
        {
            return;
        }

        var length = (long)BinaryPrimitives.ReadUInt32BigEndian(input) << (input[4] & 15);
        var header = Encoding.Latin1.GetString(input, 5, input.Length - 5);
        var range = ByteRange.Parse(header, length);
        switch (range.Kind)
        {
            case ByteRangeKind.Whole:
                Check(range.Start == 0 && range.Length == length, "a whole answer that is not [0, length)");
                break;
            case ByteRangeKind.Unsatisfiable:
                Check(header.Contains('-', StringComparison.Ordinal), "unsatisfiable without a range in the header");
                Check(range.ContentRange(length) == $"bytes */{length.ToString(CultureInfo.InvariantCulture)}", "Content-Range of a 416 is not bytes */length");
                break;
            case ByteRangeKind.Partial:
                Check(range.Start >= 0 && range.Length >= 1 && range.End < length, $"partial range {range.Start}+{range.Length} outside [0, {length})");
                var again = ByteRange.Parse(string.Create(CultureInfo.InvariantCulture, $"bytes={range.Start}-{range.End}"), length);
                Check(again == range, "a partial range written back as Range parses differently");
                Check(range.ContentRange(length) == string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{range.End}/{length}"), "Content-Range is not bytes start-end/length");
                break;
            default:
                Check(false, $"unknown kind {range.Kind}");
                break;
        }
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
        new[] { "bytes=0-99", "bytes=100-", "bytes=-500", "bytes=0-0,5-9", "Bytes = 10 - 20 ", "bytes=999999999-", "bytes=-0", "items=0-1", "bytes=5-4" }
            .Select((h, i) => ($"range-{i}", (byte[])[0, 0, 0x10, 0, (byte)(i % 3), .. Encoding.Latin1.GetBytes(h)]));
}
