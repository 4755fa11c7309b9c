using System.Globalization;
using System.Text;

namespace Detach.Mime;

/// <summary>
/// The human notice listing detached files, in the message's language(s) (<see cref="NoticeOptions"/>), as plain
/// text lines and as an ASCII-only HTML fragment. Each file: its name, its size, until when it can be downloaded,
/// the download limit when there is one, and its link.
/// </summary>
public sealed class DetachNotice(NoticeOptions options, string serviceName)
{
    /// <summary>Prose lines are wrapped to this many characters (RFC 5322), so that a client's 78-column wrap finds nothing to do.</summary>
    private const int Width = 78;

    private IReadOnlyList<NoticeLanguage> Languages => options.Languages;

    /// <summary>The trace header value, the same in every language: "2 attachments, 14.2 MB".</summary>
    public static string Summary(IReadOnlyList<DetachedAttachment> detached)
    {
        ArgumentNullException.ThrowIfNull(detached);
        long total = 0;
        foreach (var a in detached)
        {
            total += Math.Max(0, a.Size);
        }

        return detached.Count.ToString(CultureInfo.InvariantCulture) + (detached.Count == 1 ? " attachment, " : " attachments, ") + SizeText.Format(total);
    }

    /// <summary>
    /// Plain-text lines (no line endings), starting with the "-- " signature separator; file names appear as given,
    /// the caller encodes them. Each link stands alone on its line in angle brackets (RFC 3986, appendix C), so a
    /// client that wraps or flows the text still finds it whole; no line ends with a space (format=flowed would
    /// join it to the next).
    /// </summary>
    public IReadOnlyList<string> PlainLines(IReadOnlyList<DetachedAttachment> detached)
    {
        ArgumentNullException.ThrowIfNull(detached);
        var lines = new List<string> { "-- " };
        foreach (var language in Languages)
        {
            lines.AddRange(Wrap(Heading(language, detached), ""));
        }

        foreach (var a in detached)
        {
            lines.Add("");
            lines.Add("* " + a.FileName);
            foreach (var language in Languages)
            {
                lines.AddRange(Wrap(Details(language, a), "  "));
            }

            if (a.Withheld is null)
            {
                lines.Add("  " + BracketedLink(a.Link));
            }
        }
        return lines;
    }

    /// <summary>
    /// An HTML fragment for inside &lt;body&gt;: a heading paragraph and a list, one item per file (its name as the
    /// link, its details under it), each text marked with its language; no table, no fixed width, long names wrap.
    /// All non-ASCII as character references, one element per line.
    /// </summary>
    public string Html(IReadOnlyList<DetachedAttachment> detached, string lineEnding)
    {
        ArgumentNullException.ThrowIfNull(detached);
        var sb = new StringBuilder();
        sb.Append("<div class=\"detach-notice\" style=\"margin-top:1em;padding-top:0.5em;border-top:1px solid #ccc;font-size:small;overflow-wrap:break-word;word-wrap:break-word\">").Append(lineEnding);
        foreach (var language in Languages)
        {
            sb.Append("<p lang=\"").Append(language.Tag).Append("\">").Append(Escape(Heading(language, detached))).Append("</p>").Append(lineEnding);
        }
        sb.Append("<ul style=\"margin:0.5em 0;padding-left:1.5em\">").Append(lineEnding);
        foreach (var a in detached)
        {
            if (a.Withheld is null)
            {
                sb.Append("<li><a href=\"").Append(Escape(a.Link)).Append("\">").Append(EscapeName(a.FileName, lineEnding)).Append("</a>");
            }
            else
            {
                sb.Append("<li>").Append(EscapeName(a.FileName, lineEnding));
            }

            foreach (var language in Languages)
            {
                sb.Append(lineEnding).Append("<br><span lang=\"").Append(language.Tag).Append("\">").Append(Escape(Details(language, a))).Append("</span>");
            }
            sb.Append("</li>").Append(lineEnding);
        }
        sb.Append("</ul>").Append(lineEnding).Append("</div>");
        return sb.ToString();
    }

    /// <summary>The line that takes a uuencoded file's place inside a text: name, size and link (or why it was withheld), in the first language.</summary>
    public string UUBlockLine(DetachedAttachment attachment)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        var language = Languages[0];
        return language.Format("UUBlock", attachment.FileName, language.Size(attachment.Size), attachment.Withheld ?? BracketedLink(attachment.Link));
    }

    /// <summary>The text of the part that takes a withheld file's place: one line per language saying what it was and why it is gone.</summary>
    public IEnumerable<string> WithheldLines(DetachedAttachment attachment)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        return Languages.Select(l => l.Format("Withheld", attachment.FileName, l.Size(attachment.Size), attachment.Withheld));
    }

    /// <summary>"report.pdf (9.8 kB)", for the Content-Description of the part that replaces a file.</summary>
    public string Description(DetachedAttachment attachment)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        return $"{attachment.FileName} ({Languages[0].Size(attachment.Size)})";
    }

    /// <summary>"2 attachments were removed … and can be downloaded:", or its forms for when some or all were withheld.</summary>
    private string Heading(NoticeLanguage language, IReadOnlyList<DetachedAttachment> detached)
    {
        int withheld = detached.Count(a => a.Withheld is not null);
        string name = withheld == 0 ? "Heading" : withheld == detached.Count ? "Heading.Withheld" : "Heading.Mixed";
        return language.Counted(name, detached.Count, detached.Count.ToString(CultureInfo.InvariantCulture), serviceName);
    }

    /// <summary>"9.8 kB, available until 2026-12-24 10:00 UTC, at most 3 downloads", or "9.8 kB, not available: why".</summary>
    private string Details(NoticeLanguage language, DetachedAttachment attachment)
    {
        var parts = new List<string>(3) { language.Size(attachment.Size) };
        if (attachment.Withheld is { } why)
        {
            return string.Join(language.Text("Separator"), parts.Append(language.Format("Details.Withheld", why)));
        }

        if (attachment.ExpiresAt is { } expires)
        {
            parts.Add(language.Format("Details.Until", language.Date(expires)));
        }

        if (options.MaxDownloadsPerLink is { } limit)
        {
            parts.Add(language.Counted("Details.Limit", limit, limit.ToString(CultureInfo.InvariantCulture)));
        }

        return string.Join(language.Text("Separator"), parts);
    }

    private static string BracketedLink(string link) => "<" + link + ">";

    /// <summary>Breaks a line of prose at spaces so that no piece is longer than <see cref="Width"/> characters (a longer word stays whole); every piece starts with <paramref name="indent"/>.</summary>
    private static IEnumerable<string> Wrap(string text, string indent)
    {
        var line = new StringBuilder(indent);
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > indent.Length && line.Length + 1 + word.Length > Width)
            {
                yield return line.ToString();
                line.Clear().Append(indent);
            }
            if (line.Length > indent.Length)
            {
                line.Append(' ');
            }

            line.Append(word);
        }
        yield return line.ToString();
    }

    /// <summary>
    /// A file name escaped for HTML; a long non-ASCII one (150 characters can take 1,350 as references) is broken by
    /// &lt;wbr&gt; tags with the line break inside the tag, so that no line of the body passes 998 octets and no space shows.
    /// </summary>
    private static string EscapeName(string name, string lineEnding)
    {
        const int MaxPiece = 500;
        string escaped = Escape(name);
        if (escaped.Length <= MaxPiece)
        {
            return escaped;
        }

        var sb = new StringBuilder(escaped.Length + 64);
        int pieceStart = 0;
        foreach (var rune in name.EnumerateRunes())
        {
            string one = Escape(rune.ToString());
            if (sb.Length - pieceStart + one.Length > MaxPiece)
            {
                sb.Append("<wbr").Append(lineEnding).Append('>');
                pieceStart = sb.Length;
            }
            sb.Append(one);
        }
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
                    if (v is >= 0x20 and < 0x7F)
                    {
                        sb.Append((char)v);
                    }
                    else
                    {
                        sb.Append("&#").Append(v.ToString(CultureInfo.InvariantCulture)).Append(';');
                    }

                    break;
            }
        }
        return sb.ToString();
    }
}
