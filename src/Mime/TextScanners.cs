using System.Buffers;
using System.Text;

namespace Detach.Mime;

/// <summary>One pass over a (decoded) text body: length, last byte, line-ending style, whether it is all ASCII, and where &lt;/body&gt; is.</summary>
internal sealed class TextScan
{
    private const int Carry = 8;

    public long Length { get; private set; }

    public int LastByte { get; private set; } = -1;

    /// <summary>True when every byte is below 0x80: the text then reads the same in US-ASCII, UTF-8 and the ISO-8859 family.</summary>
    public bool IsAscii { get; private set; } = true;

    /// <summary>"\r\n" or "\n" as first seen in the text; null when it has no line break.</summary>
    public string? LineEnding { get; private set; }

    /// <summary>Offset of the last "&lt;/body" (any case), or -1.</summary>
    public long LastBodyClose { get; private set; } = -1;

    /// <summary>Offset of the last "&lt;/html" (any case), or -1.</summary>
    public long LastHtmlClose { get; private set; } = -1;

    public static async Task<TextScan> RunAsync(Stream text, bool html, CancellationToken cancellationToken)
    {
        var scan = new TextScan();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024 + Carry);
        try
        {
            int carried = 0;
            byte previous = 0;
            while (true)
            {
                int n = await text.ReadAsync(buffer.AsMemory(carried, 64 * 1024), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                var fresh = buffer.AsSpan(carried, n);
                if (scan.LineEnding is null)
                {
                    int lf = fresh.IndexOf((byte)'\n');
                    if (lf >= 0)
                    {
                        scan.LineEnding = (lf > 0 ? fresh[lf - 1] : previous) == '\r' ? "\r\n" : "\n";
                    }
                }
                previous = fresh[^1];
                long windowStart = scan.Length - carried;
                scan.Length += n;
                scan.LastByte = fresh[^1];
                if (scan.IsAscii && fresh.ContainsAnyExceptInRange((byte)0, (byte)0x7F))
                {
                    scan.IsAscii = false;
                }

                if (html)
                {
                    var window = buffer.AsSpan(0, carried + n);
                    int from = 0;
                    while (true)
                    {
                        int lt = window[from..].IndexOf((byte)'<');
                        if (lt < 0)
                        {
                            break;
                        }

                        int at = from + lt;
                        if (window.Length - at < 6)
                        {
                            break; // may continue in the next read
                        }

                        var tag = window.Slice(at + 1, 5);
                        if (Ascii.EqualsIgnoreCase(tag, "/body"u8))
                        {
                            scan.LastBodyClose = windowStart + at;
                        }
                        else if (Ascii.EqualsIgnoreCase(tag, "/html"u8))
                        {
                            scan.LastHtmlClose = windowStart + at;
                        }

                        from = at + 1;
                    }
                }
                // Keep the tail so a tag split across reads is still seen.
                int windowLength = carried + n;
                int keep = Math.Min(Carry, windowLength);
                buffer.AsSpan(windowLength - keep, keep).CopyTo(buffer);
                carried = keep;
            }
            return scan;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Collects the targets of cid: URLs in an HTML body (percent-escapes decoded), streaming.</summary>
internal static class CidScanner
{
    private const int MaxReference = 998;
    private const int MaxReferences = 10_000;

    public static async Task ScanAsync(Stream html, HashSet<string> into, long maxBytes, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024 + MaxReference + 8);
        try
        {
            int carried = 0;
            long total = 0;
            while (total < maxBytes)
            {
                int n = await html.ReadAsync(buffer.AsMemory(carried, 64 * 1024), cancellationToken).ConfigureAwait(false);
                bool end = n == 0;
                total += n;
                var window = buffer.AsSpan(0, carried + n);
                int keepFrom = Math.Max(0, window.Length - 4);
                int from = 0;
                while (true)
                {
                    int at = IndexOfCid(window[from..]);
                    if (at < 0)
                    {
                        break;
                    }

                    at += from;
                    var rest = window[(at + 4)..];
                    int stop = rest.IndexOfAny("\"'<>() \t\r\n\\"u8);
                    if (stop < 0 && !end)
                    {
                        keepFrom = rest.Length > MaxReference ? window.Length : at; // an unfinished reference continues in the next read
                        break;
                    }
                    var reference = stop < 0 ? rest : rest[..stop];
                    if (reference.Length is > 0 and <= MaxReference && into.Count < MaxReferences)
                    {
                        into.Add(Uri.UnescapeDataString(Encoding.Latin1.GetString(reference)).Trim('<', '>'));
                    }
                    from = at + 4;
                }
                if (end)
                {
                    break;
                }

                int keep = window.Length - keepFrom;
                window[keepFrom..].CopyTo(buffer);
                carried = keep;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int IndexOfCid(ReadOnlySpan<byte> span)
    {
        int from = 0;
        while (true)
        {
            int colon = span[from..].IndexOf((byte)':');
            if (colon < 0)
            {
                return -1;
            }

            int at = from + colon - 3;
            if (at >= 0 && Ascii.EqualsIgnoreCase(span.Slice(at, 3), "cid"u8))
            {
                return at;
            }

            from += colon + 1;
        }
    }
}
