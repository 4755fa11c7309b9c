using System.Text;

namespace Detach.Gateway.Http;

/// <summary>
/// The page at /d/{cid}: the same bytes for every CID, known or not, so that a link scanner opening it
/// learns nothing and counts nothing. The script reads the key from the fragment and does the rest.
/// </summary>
public sealed class DownloadPage
{
    public DownloadPage(string publicUrl)
    {
        var link = HtmlText.Escape(publicUrl.TrimEnd('/'));
        var html = $$"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex, nofollow">
            <meta name="referrer" content="no-referrer">
            <title>Download an attachment</title>
            <link rel="icon" href="../assets/icon.svg" type="image/svg+xml">
            <link rel="stylesheet" href="../assets/download.css">
            <script src="../assets/download.js" defer></script>
            </head>
            <body>
            <main>
            <h1 id="title">Attachment</h1>
            <p id="status" role="status">Checking the link&hellip;</p>
            <p id="warning" class="warning" role="alert" hidden></p>
            <dl id="details" hidden>
            <dt>Name</dt><dd id="name"></dd>
            <dt>Size</dt><dd id="size"></dd>
            <dt>Type</dt><dd id="type"></dd>
            <dt>Available until</dt><dd id="expires"></dd>
            <div id="downloads-row" hidden><dt>Downloads left</dt><dd id="downloads"></dd></div>
            </dl>
            <p><a id="download" class="button" href="#" hidden>Download</a></p>
            <noscript>
            <p>This page needs JavaScript to read the key from the link. Without it, download with curl:</p>
            <pre>curl -fOJ -H "X-Detach-Key: KEY" {{link}}/d/CID/file</pre>
            <p>where <code>CID</code> is the part of the link between <code>/d/</code> and <code>#</code>, and
            <code>KEY</code> is the text after the <code>#</code>. Add <code>-C -</code> to resume an interrupted download.
            The key goes in a header so that it never appears in a URL or a server log.</p>
            </noscript>
            <footer>The file is decrypted only when you download it. Its key is the part of the link after
            the # sign: your browser never sends that part to any server on its own.</footer>
            </main>
            </body>
            </html>

            """;
        Bytes = Encoding.UTF8.GetBytes(html);
    }

    public byte[] Bytes { get; }
}
