using System.Text;

namespace Detach.Gateway.Http;

/// <summary>
/// Escapes text for HTML element content and double-quoted attribute values. Every value a page shows
/// (dates, the sender's domain) comes from mail the vault received, so it is escaped, never trusted.
/// </summary>
public static class HtmlText
{
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var builder = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': builder.Append("&amp;"); break;
                case '<': builder.Append("&lt;"); break;
                case '>': builder.Append("&gt;"); break;
                case '"': builder.Append("&quot;"); break;
                case '\'': builder.Append("&#39;"); break;
                default:
                    // Controls and bidirectional overrides have no business in a page and could reorder what the reader sees.
                    builder.Append(FileNameText.IsInvisibleOrControl(c) ? '\uFFFD' : c);
                    break;
            }
        }

        return builder.ToString();
    }
}
