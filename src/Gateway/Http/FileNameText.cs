using System.Text;

namespace Detach.Gateway.Http;

/// <summary>
/// Turns an attacker-chosen attachment name into something safe to show or to offer as a file name:
/// no control characters (CR/LF would split headers), no bidirectional overrides ("gpj.exe" shown as
/// "exe.jpg"), no path separators, bounded length.
/// </summary>
public static class FileNameText
{
    public const int MaxLength = 200;
    public const string Fallback = "download";

    /// <summary>The name as shown on the page and returned by the metadata call.</summary>
    public static string ForDisplay(string? name) => Clean(name, keepSeparators: true);

    /// <summary>The name offered to the browser's download manager.</summary>
    public static string ForSaving(string? name)
    {
        var cleaned = Clean(name, keepSeparators: false).Trim().TrimStart('.');
        return cleaned.Length == 0 ? Fallback : cleaned;
    }

    /// <summary>An ASCII-only version for the plain filename="..." parameter old clients read.</summary>
    public static string AsciiFallback(string savedName)
    {
        var builder = new StringBuilder(savedName.Length);
        foreach (var c in savedName)
        {
            builder.Append(c is >= ' ' and < (char)0x7F and not '"' and not '\\' and not '%' ? c : '_');
        }

        var text = builder.ToString().Trim();
        return text.Trim('_', '.').Length == 0 ? Fallback + Path.GetExtension(text) : text;
    }

    public static bool IsInvisibleOrControl(char c) =>
        char.IsControl(c)
        || c is '\u061C' or '\u200E' or '\u200F' or '\u2028' or '\u2029' or '\uFEFF'
        || c is >= '\u202A' and <= '\u202E'
        || c is >= '\u2066' and <= '\u2069'
        || c is >= '\u200B' and <= '\u200D';

    private static string Clean(string? name, bool keepSeparators)
    {
        if (string.IsNullOrEmpty(name))
        {
            return keepSeparators ? "" : Fallback;
        }

        var builder = new StringBuilder(Math.Min(name.Length, MaxLength));
        for (var i = 0; i < name.Length && builder.Length < MaxLength; i++)
        {
            var c = name[i];
            if (char.IsSurrogate(c))
            {
                // Keep well-formed pairs (emoji), drop lone halves that would not encode as UTF-8.
                if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
                {
                    if (builder.Length + 2 > MaxLength)
                    {
                        break;
                    }

                    builder.Append(c).Append(name[++i]);
                }

                continue;
            }

            if (IsInvisibleOrControl(c))
            {
                builder.Append(c is '\r' or '\n' or '\t' ? ' ' : "");
                continue;
            }

            builder.Append(!keepSeparators && c is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|' ? '_' : c);
        }

        return builder.ToString();
    }
}
