using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace Detach.Gateway.Http;

/// <summary>
/// The page at /d/{cid}: for each language, the same bytes for every CID, known or not, so that a link scanner
/// opening it learns nothing and counts nothing. Every text comes from the language's resources; the script's own
/// texts travel in the page as data (a JSON block the Content-Security-Policy does not run). The script reads the
/// key from the fragment and does the rest.
/// </summary>
public sealed class DownloadPage(string publicUrl)
{
    private readonly ConcurrentDictionary<string, byte[]> _pages = new(StringComparer.Ordinal);

    public byte[] For(PageLanguage language)
    {
        ArgumentNullException.ThrowIfNull(language);
        return _pages.GetOrAdd(language.Tag, _ => Encoding.UTF8.GetBytes(Build(language)));
    }

    private string Build(PageLanguage language)
    {
        string T(string name) => HtmlText.Escape(language.Text(name));
        static string Code(string text) => "<code>" + HtmlText.Escape(text) + "</code>";
        var link = HtmlText.Escape(publicUrl.TrimEnd('/'));
        var where = HtmlText.Escape(language.Text("Page.NoScript.Where"))
            .Replace("{0}", Code("CID"), StringComparison.Ordinal)
            .Replace("{1}", Code("/d/"), StringComparison.Ordinal)
            .Replace("{2}", Code("#"), StringComparison.Ordinal)
            .Replace("{3}", Code("KEY"), StringComparison.Ordinal)
            .Replace("{4}", Code("-C -"), StringComparison.Ordinal);
        // System.Text.Json escapes <, > and &, so the texts cannot end the block early.
        var scriptTexts = JsonSerializer.Serialize(language.TextsStartingWith("Script."));
        return $$"""
            <!doctype html>
            <html lang="{{HtmlText.Escape(language.Tag)}}">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex, nofollow">
            <meta name="referrer" content="no-referrer">
            <title>{{T("Page.Title")}}</title>
            <link rel="icon" href="../assets/icon.svg" type="image/svg+xml">
            <link rel="stylesheet" href="../assets/download.css">
            <script id="page-text" type="application/json">{{scriptTexts}}</script>
            <script src="../assets/download.js" defer></script>
            </head>
            <body>
            <main>
            <h1 id="title">{{T("Page.Heading")}}</h1>
            <p id="status" role="status" aria-live="polite">{{T("Page.Checking")}}</p>
            <p id="warning" class="warning" role="alert" hidden></p>
            <dl id="details" hidden>
            <div><dt>{{T("Page.Name")}}</dt><dd id="name"></dd></div>
            <div><dt>{{T("Page.Size")}}</dt><dd id="size"></dd></div>
            <div><dt>{{T("Page.Type")}}</dt><dd id="type"></dd></div>
            <div><dt>{{T("Page.AvailableUntil")}}</dt><dd id="expires"></dd></div>
            <div id="downloads-row" hidden><dt>{{T("Page.DownloadsLeft")}}</dt><dd id="downloads"></dd></div>
            </dl>
            <p><a id="download" class="button" href="#" hidden>{{T("Page.Download")}}</a></p>
            <noscript>
            <p>{{T("Page.NoScript.Intro")}}</p>
            <pre>curl -fOJ -H "X-Detach-Key: KEY" {{link}}/d/CID/file</pre>
            <p>{{where}}</p>
            </noscript>
            <footer>{{T("Page.Footer")}}</footer>
            </main>
            </body>
            </html>

            """;
    }
}
