using System.Globalization;

namespace Detach.Gateway.Http;

public enum ByteRangeKind
{
    /// <summary>No usable Range header (absent, malformed, several ranges, unknown unit): send the whole file.</summary>
    Whole,

    /// <summary>One range inside the file: 206.</summary>
    Partial,

    /// <summary>A well-formed range that starts past the end: 416 with Content-Range: bytes */length.</summary>
    Unsatisfiable,
}

/// <summary>
/// One byte range of a representation (RFC 9110 section 14.1.2). Only single ranges are served: a
/// multipart/byteranges answer buys nothing for downloads and resuming, and ignoring Range is allowed.
/// </summary>
public readonly record struct ByteRange(ByteRangeKind Kind, long Start, long Length)
{
    public long End => Start + Length - 1;

    public static ByteRange Parse(string? header, long representationLength)
    {
        var whole = new ByteRange(ByteRangeKind.Whole, 0, representationLength);
        if (string.IsNullOrWhiteSpace(header) || header.Length > 100)
        {
            return whole;
        }

        var text = header.AsSpan().Trim();
        if (!text.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return whole;
        }

        text = text[6..].Trim();
        if (text.Contains(','))
        {
            return whole;
        }

        var dash = text.IndexOf('-');
        if (dash < 0)
        {
            return whole;
        }

        var first = text[..dash].Trim();
        var last = text[(dash + 1)..].Trim();
        if (first.IsEmpty)
        {
            // bytes=-N: the last N bytes.
            if (!TryParseDigits(last, out var suffix))
            {
                return whole;
            }

            if (suffix == 0 || representationLength == 0)
            {
                return new ByteRange(ByteRangeKind.Unsatisfiable, 0, 0);
            }

            var take = Math.Min(suffix, representationLength);
            return new ByteRange(ByteRangeKind.Partial, representationLength - take, take);
        }

        if (!TryParseDigits(first, out var start))
        {
            return whole;
        }

        long end;
        if (last.IsEmpty)
        {
            end = representationLength - 1;
        }
        else if (!TryParseDigits(last, out end) || end < start)
        {
            return whole;
        }

        if (start >= representationLength)
        {
            return new ByteRange(ByteRangeKind.Unsatisfiable, 0, 0);
        }

        end = Math.Min(end, representationLength - 1);
        return new ByteRange(ByteRangeKind.Partial, start, end - start + 1);
    }

    public string ContentRange(long representationLength) =>
        Kind == ByteRangeKind.Partial
            ? string.Create(CultureInfo.InvariantCulture, $"bytes {Start}-{End}/{representationLength}")
            : string.Create(CultureInfo.InvariantCulture, $"bytes */{representationLength}");

    private static bool TryParseDigits(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 18)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
