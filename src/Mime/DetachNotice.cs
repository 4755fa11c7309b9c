using System.Globalization;
using System.Text;

namespace Detach.Mime;

/// <summary>The human notice listing detached files, as plain text lines and as an ASCII-only HTML fragment.</summary>
public static class DetachNotice
{
    /// <summary>"1.2 MB" style sizes (binary multiples, as mail clients show them).</summary>
    public static string FormatSize(long bytes)
    {
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + (bytes == 1 ? " byte" : " bytes");
        string[] units = ["KB", "MB", "GB", "TB"];
        double value = bytes;
        int unit = -1;
        do
        {
            value /= 1024;
            unit++;
        }
        while (value >= 1024 && unit < units.Length - 1);
        return value.ToString(value < 100 ? "0.0" : "0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    public static string FormatExpiry(DateTimeOffset expiresAt) =>
        expiresAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>The trace header value: "2 attachments, 14.2 MB".</summary>
    public static string Summary(IReadOnlyList<DetachedAttachment> detached)
    {
        ArgumentNullException.ThrowIfNull(detached);
        long total = 0;
        foreach (var a in detached) total += Math.Max(0, a.Size);
        return detached.Count.ToString(CultureInfo.InvariantCulture) + (detached.Count == 1 ? " attachment, " : " attachments, ") + FormatSize(total);
    }

    private static string Heading(IReadOnlyList<DetachedAttachment> detached, string serviceName)
    {
        var removed = detached.Count == 1
            ? $"1 attachment was removed from this message by {serviceName}"
            : $"{detached.Count.ToString(CultureInfo.InvariantCulture)} attachments were removed from this message by {serviceName}";
        var withheld = detached.Count(a => a.Withheld is not null);
        return removed + (withheld == 0 ? " and can be downloaded:" : withheld == detached.Count ? ":" : "; those with a link can be downloaded:");
    }

    /// <summary>Plain-text lines (no line endings); file names appear as given, the caller encodes them.</summary>
    public static IReadOnlyList<string> PlainLines(IReadOnlyList<DetachedAttachment> detached, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(detached);
        var lines = new List<string> { "-- ", Heading(detached, serviceName) };
        foreach (var a in detached)
        {
            lines.Add("");
            lines.Add($"* {a.FileName} ({FormatSize(a.Size)})");
            if (a.Withheld is not null)
            {
                lines.Add("  not available: " + a.Withheld);
                continue;
            }

            lines.Add("  " + a.Link);
            if (a.ExpiresAt is { } expires) lines.Add("  available until " + FormatExpiry(expires));
        }
        return lines;
    }

    /// <summary>An HTML fragment for inside &lt;body&gt;, all non-ASCII as character references, one element per line.</summary>
    public static string Html(IReadOnlyList<DetachedAttachment> detached, string serviceName, string lineEnding)
    {
        ArgumentNullException.ThrowIfNull(detached);
        var sb = new StringBuilder();
        sb.Append("<div class=\"detach-notice\" style=\"margin-top:1em;padding-top:0.5em;border-top:1px solid #ccc;font-size:small\">").Append(lineEnding);
        sb.Append("<p>").Append(Escape(Heading(detached, serviceName))).Append("</p>").Append(lineEnding);
        sb.Append("<ul>").Append(lineEnding);
        foreach (var a in detached)
        {
            if (a.Withheld is not null)
            {
                sb.Append("<li>").Append(Escape(a.FileName)).Append(" (").Append(Escape(FormatSize(a.Size))).Append("), not available: ")
                  .Append(Escape(a.Withheld)).Append("</li>").Append(lineEnding);
                continue;
            }

            sb.Append("<li><a href=\"").Append(Escape(a.Link)).Append("\">").Append(Escape(a.FileName)).Append("</a> (")
              .Append(Escape(FormatSize(a.Size))).Append(')');
            if (a.ExpiresAt is { } expires) sb.Append(", available until ").Append(Escape(FormatExpiry(expires)));
            sb.Append("</li>").Append(lineEnding);
        }
        sb.Append("</ul>").Append(lineEnding).Append("</div>");
        return sb.ToString();
    }

    /// <summary>HTML-escapes text and writes everything outside printable ASCII as a numeric character reference.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length + 16);
        foreach (var rune in text.EnumerateRunes())
        {
            int v = rune.Value;
            switch (v)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                default:
                    if (v is >= 0x20 and < 0x7F) sb.Append((char)v);
                    else sb.Append("&#").Append(v.ToString(CultureInfo.InvariantCulture)).Append(';');
                    break;
            }
        }
        return sb.ToString();
    }
}
