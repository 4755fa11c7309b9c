using System.Text;

namespace Detach.Mime;

/// <summary>Safe file names for anything shown to people or used later: no paths, controls, bidi tricks, bounded length.</summary>
public static class FileNames
{
    /// <summary>Longest sanitised name, in UTF-16 code units; the extension is kept when shortening.</summary>
    public const int MaxLength = 150;

    private static readonly string[] ReservedWindowsNames =
        ["CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
         "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"];

    /// <summary>Sanitises <paramref name="name"/>; falls back to a name derived from <paramref name="mimeType"/>.</summary>
    public static string Sanitize(string? name, string mimeType)
    {
        string fallback = "attachment" + ExtensionFor(mimeType);
        if (string.IsNullOrWhiteSpace(name))
        {
            return fallback;
        }
        // Path components of either OS: keep the last one.
        int slash = name.LastIndexOfAny(['/', '\\']);
        if (slash >= 0)
        {
            name = name[(slash + 1)..];
        }

        var sb = new StringBuilder(name.Length);
        foreach (var rune in name.EnumerateRunes())
        {
            int v = rune.Value;
            if (v < 0x20 || v is >= 0x7F and < 0xA0)
            {
                continue; // C0, DEL, C1
            }

            if (v is 0x200E or 0x200F or 0x061C or (>= 0x202A and <= 0x202E) or (>= 0x2066 and <= 0x2069))
            {
                continue; // bidi marks and overrides
            }

            if (v is (>= 0x200B and <= 0x200D) or 0xFEFF or 0x2060)
            {
                continue; // zero-width characters
            }

            if (v == 0xFFFD) { sb.Append('_'); continue; }
            if (v is ':' or '*' or '?' or '"' or '<' or '>' or '|') { sb.Append('_'); continue; }
            if (Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator
                or System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.Surrogate or System.Globalization.UnicodeCategory.PrivateUse)
            {
                continue;
            }

            sb.Append(Rune.IsWhiteSpace(rune) ? " " : rune.ToString());
        }
        string result = CollapseSpaces(sb.ToString()).Trim(' ', '.');
        if (result.Length == 0)
        {
            return fallback;
        }

        string stem = result;
        int dot = stem.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            stem = stem[..dot];
        }

        if (Array.Exists(ReservedWindowsNames, r => string.Equals(r, stem, StringComparison.OrdinalIgnoreCase)))
        {
            result = "_" + result;
        }

        if (result.Length > MaxLength)
        {
            result = Shorten(result);
        }

        return result;
    }

    private static string CollapseSpaces(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool space = false;
        foreach (char c in s)
        {
            if (c == ' ')
            {
                if (!space)
                {
                    sb.Append(c);
                }

                space = true;
            }
            else
            {
                sb.Append(c);
                space = false;
            }
        }
        return sb.ToString();
    }

    private static string Shorten(string name)
    {
        int dot = name.LastIndexOf('.');
        string extension = dot > 0 && name.Length - dot <= 16 ? name[dot..] : "";
        int keep = MaxLength - extension.Length;
        // Do not cut a surrogate pair in half.
        if (char.IsHighSurrogate(name[keep - 1]))
        {
            keep--;
        }

        return name[..keep].TrimEnd(' ', '.') + extension;
    }

    /// <summary>A usual extension for a media type, with the dot; ".bin" when unknown.</summary>
    public static string ExtensionFor(string mimeType) => mimeType switch
    {
        "message/rfc822" or "message/global" or "message/news" => ".eml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/calendar" => ".ics",
        "text/csv" => ".csv",
        "text/vcard" or "text/x-vcard" => ".vcf",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        "application/ms-tnef" or "application/vnd.ms-tnef" => ".dat",
        "application/msword" => ".doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => ".docx",
        "application/vnd.ms-excel" => ".xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => ".xlsx",
        "application/vnd.ms-powerpoint" => ".ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => ".pptx",
        "image/jpeg" or "image/jpg" or "image/pjpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "image/bmp" => ".bmp",
        "image/tiff" => ".tif",
        "image/svg+xml" => ".svg",
        "audio/mpeg" => ".mp3",
        "audio/wav" or "audio/x-wav" => ".wav",
        "video/mp4" => ".mp4",
        "video/quicktime" => ".mov",
        _ => ".bin",
    };
}
