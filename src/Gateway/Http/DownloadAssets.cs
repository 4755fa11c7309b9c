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
        // short-lived cookie that lets the Download button be a plain, resumable link.
        (function () {
          'use strict';

          var windowMs = 50 * 60 * 1000; // replaced by 80% of the server's token lifetime once known
          var base = location.pathname.replace(/\/+$/, '');
          var key = (location.hash || '').replace(/^#/, '').trim();
          var checkedAt = 0;

          function el(id) { return document.getElementById(id); }

          function setText(id, text) { el(id).textContent = text == null ? '' : String(text); }

          function showProblem(title, detail) {
            document.body.setAttribute('data-state', 'problem');
            setText('title', title);
            setText('status', detail);
            el('details').hidden = true;
            el('download').hidden = true;
          }

          function formatSize(bytes) {
            var units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
            var value = bytes;
            var unit = 0;
            while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
            var text = unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0);
            return text + ' ' + units[unit] + (unit === 0 ? '' : ' (' + bytes.toLocaleString() + ' bytes)');
          }

          function formatDate(iso) {
            if (!iso) { return 'no expiry'; }
            var date = new Date(iso);
            return isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'short' });
          }

          function showFile(meta) {
            document.body.setAttribute('data-state', 'ready');
            setText('title', meta.name || 'Attachment');
            setText('status', meta.senderDomain ? 'Sent from ' + meta.senderDomain + '.' : '');
            setText('name', meta.name);
            setText('size', formatSize(meta.size));
            setText('type', meta.type);
            setText('expires', formatDate(meta.expiresAt));
            if (meta.downloadsLeft != null) {
              el('downloads-row').hidden = false;
              setText('downloads', String(meta.downloadsLeft));
            }
            if (meta.warning) {
              // A scanner found a threat in this file (or could not scan it) and the sender's server delivered it anyway.
              setText('warning', 'Warning: ' + meta.warning + '. Open this file only if you trust it and know what it is.');
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
              showProblem(answer.body.title || 'This file cannot be downloaded', answer.body.detail || ('The server answered ' + answer.status + '.'));
              return false;
            }, function () {
              showProblem('The server cannot be reached', 'Check your connection and reload this page.');
              return false;
            });
          }

          document.addEventListener('DOMContentLoaded', function () {
            document.body.setAttribute('data-state', 'checking');
            if (!/^[A-Za-z0-9_-]{20,100}$/.test(key)) {
              showProblem('This link is incomplete',
                'The key, the part of the link after the # sign, is missing or damaged. Copy the whole link from the message and open it again.');
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
        :root { color-scheme: light dark; --accent: #1f6feb; --muted: #57606a; --border: #d0d7de; --bg: #ffffff; --card: #f6f8fa; }
        @media (prefers-color-scheme: dark) { :root { --accent: #4493f8; --muted: #9198a1; --border: #3d444d; --bg: #0d1117; --card: #151b23; } }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
        main { max-width: 40rem; margin: 3rem auto; padding: 1.5rem; background: var(--card); border: 1px solid var(--border); border-radius: 12px; }
        h1 { font-size: 1.4rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
        p { margin: .5rem 0; }
        .muted, #status { color: var(--muted); }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
        dt { color: var(--muted); }
        dd { margin: 0; overflow-wrap: anywhere; unicode-bidi: plaintext; }
        .button { display: inline-block; padding: .7rem 1.6rem; border-radius: 8px; background: var(--accent); color: #fff; text-decoration: none; font-weight: 600; }
        .button:focus-visible { outline: 3px solid var(--border); outline-offset: 2px; }
        code, pre { font: 14px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; padding: .75rem; border: 1px solid var(--border); border-radius: 6px; }
        footer { margin-top: 1.5rem; font-size: .85rem; color: var(--muted); }
        body[data-state="problem"] h1 { color: #cf222e; }
        #downloads-row { display: contents; }
        .warning { padding: .75rem; border: 1px solid #cf222e; border-radius: 6px; color: #cf222e; font-weight: 600; }
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
