using System.Security.Cryptography;
using System.Text;

namespace Detach.Gateway.Http;

/// <summary>
/// The download page's script and style sheet, served by the gateway itself from /assets/ (the page's
/// Content-Security-Policy allows nothing else). Kept as text in the assembly: no static-file folder to
/// deploy, and the ETag is the content hash.
/// </summary>
public static class DownloadAssets
{
    public const string ScriptPath = "/assets/download.js";
    public const string StylePath = "/assets/download.css";
    public const string IconPath = "/assets/icon.svg";

    /// <summary>A favicon of our own, so browsers do not log a 404 for /favicon.ico on every page.</summary>
    public static readonly Asset Icon = new("image/svg+xml", """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f6feb"/><path d="M16 6v14m-6-6 6 6 6-6M8 25h16" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>

        """);

    public static readonly Asset Script = new("text/javascript; charset=utf-8", """
        // Detach download page. The link key lives in the URL fragment, which browsers never send: this
        // script hands it to the gateway in a POST header, once, and gets back the file's details plus a
        // short-lived cookie that lets the Download button be a plain, resumable link. Its texts come with
        // the page, in the page's language (the #page-text block, from the gateway's resources).
        (function () {
          'use strict';

          var text = JSON.parse(document.getElementById('page-text').textContent);
          var lang = document.documentElement.lang || undefined;
          var windowMs = 50 * 60 * 1000; // replaced by 80% of the server's token lifetime once known
          var base = location.pathname.replace(/\/+$/, '');
          var key = (location.hash || '').replace(/^#/, '').trim();
          var checkedAt = 0;

          // A mail gateway that rewrote the link may have percent-encoded its '#' (%23, or %2523 after two
          // rewrites): the key then came in the path, which the server cut off before serving this page. Put it
          // back in the fragment, where it stays in the browser, and carry on as with the original link.
          function keyFromPath(path) {
            var decoded = path;
            for (var i = 0; i < 5 && decoded.indexOf('#') < 0 && decoded.indexOf('%') >= 0; i++) {
              try { decoded = decodeURIComponent(decoded); } catch (e) { return null; }
            }
            var at = decoded.indexOf('#');
            return at < 0 ? null : { base: decoded.slice(0, at).replace(/\/+$/, ''), key: decoded.slice(at + 1).split(/[\/?#]/)[0] };
          }

          if (!key) {
            var moved = keyFromPath(base);
            if (moved) {
              base = moved.base;
              key = moved.key;
              history.replaceState(null, '', base + '#' + key);
            }
          }

          function el(id) { return document.getElementById(id); }

          function setText(id, value) { el(id).textContent = value == null ? '' : String(value); }

          function fill(template, value) { return template.replace('{0}', value); }

          function showProblem(title, detail) {
            document.body.setAttribute('data-state', 'problem');
            setText('title', title);
            setText('status', detail);
            el('details').hidden = true;
            el('download').hidden = true;
          }

          // The reader's own time and zone, in the page's language: "3 janvier 2027 à 16:55 UTC+1".
          function formatDate(iso) {
            if (!iso) { return text.NoExpiry; }
            var date = new Date(iso);
            return isNaN(date.getTime()) ? iso : date.toLocaleString(lang, {
              year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short'
            });
          }

          function showFile(meta) {
            document.body.setAttribute('data-state', 'ready');
            setText('title', meta.name || text.FallbackName);
            setText('status', meta.senderDomain ? text.Ready + ' ' + fill(text.SentFrom, meta.senderDomain) : text.Ready);
            setText('name', meta.name);
            setText('size', meta.sizeText);
            setText('type', meta.type);
            setText('expires', formatDate(meta.expiresAt));
            if (meta.downloadsLeft != null) {
              el('downloads-row').hidden = false;
              setText('downloads', String(meta.downloadsLeft));
            }
            if (meta.warning) {
              // A scanner found a threat in this file (or could not scan it) and the sender's server delivered it anyway.
              setText('warning', fill(text.Warning, meta.warning));
              el('warning').hidden = false;
            }
            el('details').hidden = false;
            var button = el('download');
            button.href = base + '/file';
            button.hidden = false;
            button.focus();
          }

          function check() {
            return fetch(base + '/meta', {
              method: 'POST',
              headers: { 'X-Detach-Key': key, 'Accept': 'application/json' },
              credentials: 'same-origin',
              cache: 'no-store',
              referrerPolicy: 'no-referrer'
            }).then(function (response) {
              return response.json().then(function (body) { return { status: response.status, body: body }; },
                function () { return { status: response.status, body: {} }; });
            });
          }

          function load() {
            return check().then(function (answer) {
              if (answer.status === 200) {
                checkedAt = Date.now();
                if (answer.body.downloadWindowSeconds > 0) { windowMs = answer.body.downloadWindowSeconds * 800; }
                showFile(answer.body);
                return true;
              }
              showProblem(answer.body.title || text.RefusedTitle, answer.body.detail || fill(text.RefusedDetail, answer.status));
              return false;
            }, function () {
              showProblem(text.UnreachableTitle, text.UnreachableDetail);
              return false;
            });
          }

          document.addEventListener('DOMContentLoaded', function () {
            document.body.setAttribute('data-state', 'checking');
            if (!/^[A-Za-z0-9_-]{20,100}$/.test(key)) {
              showProblem(text.IncompleteTitle, text.IncompleteDetail);
              return;
            }
            el('download').addEventListener('click', function (event) {
              // The cookie behind the button is short-lived: get a fresh one when the page sat open too long.
              if (Date.now() - checkedAt > windowMs) {
                event.preventDefault();
                load().then(function (ok) { if (ok) { location.assign(base + '/file'); } });
              }
            });
            load();
          });
        })();

        """);

    public static readonly Asset Style = new("text/css; charset=utf-8", """
        :root { color-scheme: light dark; --text: #1f2328; --muted: #57606a; --border: #d0d7de; --bg: #ffffff; --card: #f6f8fa; --focus: #0b3d91; --alert: #cf222e; }
        @media (prefers-color-scheme: dark) { :root { --text: #e6edf3; --muted: #9198a1; --border: #3d444d; --bg: #0d1117; --card: #151b23; --focus: #9cc5ff; --alert: #ff7b72; } }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
        main { max-width: 40rem; margin: 3rem auto; padding: 1.5rem; background: var(--card); border: 1px solid var(--border); border-radius: 12px; }
        h1 { font-size: 1.4rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
        p { margin: .5rem 0; }
        .muted, #status { color: var(--muted); }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
        dl > div { display: contents; }
        dt { color: var(--muted); }
        dd { margin: 0; overflow-wrap: anywhere; unicode-bidi: plaintext; }
        /* White on this blue is 4.6:1 in both schemes; the focus ring contrasts with the card in both. */
        .button { display: inline-block; padding: .7rem 1.6rem; border-radius: 8px; background: #1f6feb; color: #fff; text-decoration: none; font-weight: 600; }
        .button:focus-visible { outline: 3px solid var(--focus); outline-offset: 3px; }
        code, pre { font: 14px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; padding: .75rem; border: 1px solid var(--border); border-radius: 6px; }
        footer { margin-top: 1.5rem; font-size: .85rem; color: var(--muted); }
        body[data-state="problem"] h1 { color: var(--alert); }
        .warning { padding: .75rem; border: 1px solid var(--alert); border-radius: 6px; color: var(--alert); font-weight: 600; }
        [hidden] { display: none !important; }
        @media (max-width: 30rem) { main { margin: 0; border-radius: 0; border-width: 0 0 1px; } dl { grid-template-columns: 1fr; } dd { margin-bottom: .5rem; } }

        """);

    public sealed class Asset
    {
        public Asset(string contentType, string text)
        {
            ContentType = contentType;
            Bytes = Encoding.UTF8.GetBytes(text);
            ETag = "\"" + Convert.ToHexStringLower(SHA256.HashData(Bytes).AsSpan(0, 12)) + "\"";
        }

        public string ContentType { get; }

        public byte[] Bytes { get; }

        public string ETag { get; }
    }
}
