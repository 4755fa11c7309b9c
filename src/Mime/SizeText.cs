using System.Globalization;

namespace Detach.Mime;

/// <summary>
/// The words a language writes sizes with: its decimal mark, "byte" in the singular and the plural with the counts
/// that take the singular (1 in English; 0 and 1 in French), and the units for 1000, 1000², 1000³ and 1000⁴ bytes.
/// Callers that speak several languages read these from their resources.
/// </summary>
public sealed record SizeWords(
    string DecimalMark, string Byte, string Bytes, IReadOnlySet<long> SingularCounts, string Kilobytes, string Megabytes, string Gigabytes, string Terabytes)
{
    public static SizeWords English { get; } = new(".", "byte", "bytes", new HashSet<long> { 1 }, "kB", "MB", "GB", "TB");
}

/// <summary>
/// One way of writing a size wherever a person reads one (the mail notice, the download page, the command line):
/// decimal units as disks and networks count them (1 kB = 1000 bytes), one decimal below 100 and none above
/// ("9.1 kB", "35.2 MB", "352 MB"), whole bytes below 1000 ("512 bytes").
/// </summary>
public static class SizeText
{
    public static string Format(long bytes, SizeWords? words = null)
    {
        words ??= SizeWords.English;
        bytes = Math.Max(0, bytes);
        if (bytes < 1000)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " " + (words.SingularCounts.Contains(bytes) ? words.Byte : words.Bytes);
        }

        string[] units = [words.Kilobytes, words.Megabytes, words.Gigabytes, words.Terabytes];
        var value = bytes / 1000.0;
        var unit = 0;
        while (unit < units.Length - 1 && Math.Round(value, MidpointRounding.AwayFromZero) >= 1000)
        {
            value /= 1000;
            unit++;
        }

        var number = Math.Round(value, 1, MidpointRounding.AwayFromZero) < 100
            ? value.ToString("0.0", CultureInfo.InvariantCulture).Replace(".", words.DecimalMark, StringComparison.Ordinal)
            : value.ToString("0", CultureInfo.InvariantCulture);
        return number + " " + units[unit];
    }
}
