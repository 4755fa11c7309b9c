using System.Text;
using System.Text.Json;

namespace Detach.Mime.Tests;

/// <summary>
/// The French and bilingual notices in text bodies of every transfer encoding and charset, read back by an
/// independent decoder (Python's email package): the original text unchanged, the notice whole, the declared
/// charset and encoding true to the bytes, and 7-bit input still 7-bit.
/// </summary>
public class NoticeEncodingTests
{
    private const string French = "Voilà le rapport, à bientôt.\r\n";
    private const string Ascii = "Here is the report.\r\n";

    public static TheoryData<string, string, string, string, string, string> Bodies => new()
    {
        // transfer encoding, charset (declared, "" for none), original text, how it is written, then the encoding and charset expected after
        { "7bit", "us-ascii", Ascii, "raw", "quoted-printable", "utf-8" },
        { "", "", Ascii, "raw", "quoted-printable", "utf-8" },
        { "7bit", "iso-8859-1", Ascii, "raw", "quoted-printable", "utf-8" },
        { "8bit", "utf-8", French, "raw", "8bit", "utf-8" },
        { "8bit", "us-ascii", Ascii, "raw", "8bit", "utf-8" },
        { "8bit", "windows-1252", French, "raw", "8bit", "windows-1252" },
        { "quoted-printable", "utf-8", French, "qp", "quoted-printable", "utf-8" },
        { "quoted-printable", "us-ascii", Ascii, "qp", "quoted-printable", "utf-8" },
        { "quoted-printable", "iso-8859-15", French, "qp", "quoted-printable", "iso-8859-15" },
        { "base64", "utf-8", French, "base64", "base64", "utf-8" },
        { "base64", "us-ascii", Ascii, "base64", "base64", "utf-8" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task French_notice_is_re_encoded_as_the_body_is_and_reads_back(string cte, string charset, string original, string writtenAs, string cteAfter, string charsetAfter)
    {
        var encoding = Charsets.Find(charset) ?? Encoding.ASCII;
        byte[] raw = encoding.GetBytes(original);
        byte[] body = writtenAs switch
        {
            "qp" => QuotedPrintableBodyEncoder.EncodeAll(raw, "\r\n"),
            "base64" => Encoding.ASCII.GetBytes(MessageBuilder.Base64Lines(raw) + "\r\n"),
            _ => raw,
        };
        string headers = (charset.Length > 0 ? $"Content-Type: text/plain; charset={charset}" : "")
            + (cte.Length > 0 ? (charset.Length > 0 ? "\n" : "") + "Content-Transfer-Encoding: " + cte : "");
        byte[] input = NoticeTestMail.WithTextPart(headers, body);

        foreach (var language in new[] { "fr", "en+fr" })
        {
            var (output, result) = await NoticeTestMail.RewriteAsync(input, language, maxDownloads: 2);
            var text = (await PythonTextPartsAsync(output))["text/plain"];
            Assert.Equal(cteAfter, text.Cte);
            Assert.Equal(charsetAfter, text.Charset);
            string notice = "-- \r\n" + (language == "fr" ? "" : "1 attachment was removed from this message by Detach and can be downloaded:\r\n")
                + "1 pièce jointe a été retirée de ce message par Detach et peut être\r\ntéléchargée\u00A0:\r\n\r\n* report1.pdf\r\n"
                + (language == "fr" ? "" : "  9.0 kB, available until 2026-12-24 10:00 UTC, at most 2 downloads\r\n")
                + "  9,0 ko, disponible jusqu’au 2026-12-24 10:00 UTC, 2 téléchargements au plus\r\n  <" + result.Detached[0].Link + ">\r\n";
            if (charsetAfter == "iso-8859-15")
            {
                notice = notice.Replace('’', '\''); // Latin-9 has no ’, and the body is not ASCII: folded
            }

            Assert.Equal(original + "\r\n" + notice, text.Text);
            if (cteAfter != "8bit")
            {
                Assert.All(output, b => Assert.True(b < 0x80)); // 7-bit in, 7-bit out
            }
        }
    }

    [Fact]
    public async Task A_charset_that_cannot_carry_the_notice_gets_it_without_accents_rather_than_question_marks()
    {
        // Shift_JIS has no "é" and the body is not ASCII, so it cannot become UTF-8 either.
        var shiftJis = Charsets.Find("shift_jis")!;
        string original = "\u6DFB\u4ED8\u30D5\u30A1\u30A4\u30EB\u3067\u3059\u3002\r\n";
        byte[] input = NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: 8bit", shiftJis.GetBytes(original));
        var (output, _) = await NoticeTestMail.RewriteAsync(input, "fr");
        var text = (await PythonTextPartsAsync(output))["text/plain"];
        Assert.Equal("shift_jis", text.Charset);
        Assert.StartsWith(original + "\r\n-- \r\n1 piece jointe a ete retiree de ce message par Detach et peut etre\r\ntelechargee :\r\n", text.Text, StringComparison.Ordinal);
        Assert.Contains("  9,0 ko, disponible jusqu’au 2026-12-24 10:00 UTC\r\n", text.Text, StringComparison.Ordinal); // Shift_JIS has ’
    }

    [Fact]
    public async Task A_stateful_7bit_charset_keeps_its_label_and_gets_an_ascii_notice()
    {
        // ISO-2022-JP is 7-bit but not ASCII text: calling it UTF-8 would garble it.
        var jis = Charsets.Find("iso-2022-jp")!;
        string original = "\u6DFB\u4ED8\u30D5\u30A1\u30A4\u30EB\r\n";
        byte[] input = NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit", jis.GetBytes(original));
        var (output, _) = await NoticeTestMail.RewriteAsync(input, "fr");
        Assert.All(output, b => Assert.True(b < 0x80));
        var text = (await PythonTextPartsAsync(output))["text/plain"];
        Assert.Equal(("7bit", "iso-2022-jp"), (text.Cte, text.Charset));
        Assert.StartsWith(original + "\r\n-- \r\n1 piece jointe a ete retiree", text.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("7bit", "us-ascii")]
    [InlineData("quoted-printable", "utf-8")]
    [InlineData("base64", "utf-8")]
    [InlineData("base64", "iso-8859-1")]
    public async Task Html_bodies_get_the_french_notice_as_character_references_in_their_own_encoding(string cte, string charset)
    {
        const string html = "<html><body><p>Caf&eacute;</p></body></html>\r\n";
        byte[] raw = Encoding.ASCII.GetBytes(html);
        byte[] body = cte switch
        {
            "quoted-printable" => QuotedPrintableBodyEncoder.EncodeAll(raw, "\r\n"),
            "base64" => Encoding.ASCII.GetBytes(MessageBuilder.Base64Lines(raw) + "\r\n"),
            _ => raw,
        };
        byte[] input = NoticeTestMail.WithTextPart($"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {cte}", body);
        var (output, _) = await NoticeTestMail.RewriteAsync(input, "en+fr");
        Assert.All(output, b => Assert.True(b < 0x80));
        var part = (await PythonTextPartsAsync(output))["text/html"];
        Assert.Equal((cte, charset), (part.Cte, part.Charset));
        Assert.StartsWith("<html><body><p>Caf&eacute;</p>\r\n<div class=\"detach-notice\"", part.Text, StringComparison.Ordinal);
        Assert.Contains("<p lang=\"fr\">1 pi&#232;ce jointe a &#233;t&#233; retir&#233;e", part.Text, StringComparison.Ordinal);
        Assert.EndsWith("</div>\r\n</body></html>\r\n", part.Text, StringComparison.Ordinal);
    }

    internal sealed record TextPart(string Cte, string Charset, string Text);

    /// <summary>The first text/plain and text/html parts as Python's email package decodes them (transfer encoding, then charset, strictly).</summary>
    internal static async Task<Dictionary<string, TextPart>> PythonTextPartsAsync(byte[] message)
    {
        const string script = """
            import email, email.policy, json, sys
            msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.compat32)
            out = {}
            for part in msg.walk():
                t = part.get_content_type()
                if t in ("text/plain", "text/html") and t not in out and part.get_content_disposition() != "attachment":
                    charset = part.get_content_charset() or "us-ascii"
                    out[t] = {"cte": part.get("Content-Transfer-Encoding", "7bit").strip().lower(), "charset": charset,
                              "text": part.get_payload(decode=True).decode(charset, errors="strict")}
            print(json.dumps(out))
            """;
        var python = await ChildProcess.RunAsync(
            InstalledPrograms.Require("python3", "python3"), ["-c", script], TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken, standardInput: message);
        Assert.True(python.Succeeded, python.StandardError);
        using var json = JsonDocument.Parse(python.StandardOutput);
        return json.RootElement.EnumerateObject().ToDictionary(
            p => p.Name,
            p => new TextPart(p.Value.GetProperty("cte").GetString()!, p.Value.GetProperty("charset").GetString()!, p.Value.GetProperty("text").GetString()!));
    }
}
