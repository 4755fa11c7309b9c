using System.Text;
using System.Text.RegularExpressions;

namespace Detach.Mime.Tests;

/// <summary>What the notice says, in English, French and both: per file its name, size, date with its zone, limit and link.</summary>
public partial class NoticeLanguageTests
{
    private static readonly byte[] PlainBody = Encoding.ASCII.GetBytes("Hello,\r\nthe files.\r\n");

    private static readonly byte[] Alternative = Mail.Crlf(
        "Content-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nHello=2C\n" +
        "--alt\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><p>Hello</p></body></html>\n--alt--");

    [Fact]
    public async Task English_notice_names_each_file_with_size_date_and_zone_limit_and_bracketed_link()
    {
        var (output, result) = await NoticeTestMail.RewriteAsync(NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=us-ascii", PlainBody, files: 2), "en", maxDownloads: 3);
        var (part, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        Assert.Equal(TransferEncoding.None, part.TransferEncoding); // all ASCII: the body is not touched beyond the notice
        Assert.Equal(
            "Hello,\r\nthe files.\r\n\r\n-- \r\n" +
            "2 attachments were removed from this message by Detach and can be downloaded:\r\n\r\n" +
            "* report1.pdf\r\n  9.0 kB, available until 2026-12-24 10:00 UTC, at most 3 downloads\r\n  <" + result.Detached[0].Link + ">\r\n\r\n" +
            "* report2.pdf\r\n  9.0 kB, available until 2026-12-24 10:00 UTC, at most 3 downloads\r\n  <" + result.Detached[1].Link + ">\r\n",
            text);
    }

    [Fact]
    public async Task French_notice_says_the_same_in_french_with_french_sizes_and_plurals()
    {
        var (output, result) = await NoticeTestMail.RewriteAsync(NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", PlainBody, files: 2), "fr", maxDownloads: 3);
        var (_, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        Assert.Equal(
            "Hello,\r\nthe files.\r\n\r\n-- \r\n" +
            "2 pièces jointes ont été retirées de ce message par Detach et peuvent être\r\ntéléchargées\u00A0:\r\n\r\n" +
            "* report1.pdf\r\n  9,0 ko, disponible jusqu’au 2026-12-24 10:00 UTC, 3 téléchargements au plus\r\n  <" + result.Detached[0].Link + ">\r\n\r\n" +
            "* report2.pdf\r\n  9,0 ko, disponible jusqu’au 2026-12-24 10:00 UTC, 3 téléchargements au plus\r\n  <" + result.Detached[1].Link + ">\r\n",
            text);
    }

    [Theory]
    [InlineData("en", 1, 1, "1 attachment was removed", "at most 1 download")]
    [InlineData("en", 2, 2, "2 attachments were removed", "at most 2 downloads")]
    [InlineData("fr", 1, 1, "1 pièce jointe a été retirée de ce message par Detach et peut être", "1 téléchargement au plus")]
    [InlineData("fr", 3, 5, "3 pièces jointes ont été retirées", "5 téléchargements au plus")]
    public async Task Counts_take_the_singular_or_plural_of_their_language(string language, int files, int limit, string heading, string details)
    {
        var (output, _) = await NoticeTestMail.RewriteAsync(NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", PlainBody, files), language, limit);
        var (_, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        Assert.Contains("\r\n" + heading, text, StringComparison.Ordinal);
        Assert.Equal(files, CountOf(text, details));
    }

    [Fact]
    public async Task Without_a_limit_or_an_expiry_the_details_say_only_the_size()
    {
        var sink = new RecordingSink { ExpiresAt = null };
        var rewriter = new MimeRewriter(new DetachPolicyOptions(), sink);
        var result = await rewriter.PrepareAsync(new MemoryStream(NoticeTestMail.WithTextPart("", PlainBody)),
            headers => new NoticeOptions { Languages = NoticeLanguage.ParseChoice("fr", out _)! }, TestContext.Current.CancellationToken);
        using var output = new MemoryStream();
        await result.WriteToAsync(output, TestContext.Current.CancellationToken);
        var (_, text) = await NoticeTestMail.BodyAsync(output.ToArray(), "text/plain");
        Assert.EndsWith("* report1.pdf\r\n  9,0 ko\r\n  <" + result.Detached[0].Link + ">\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bilingual_notice_gives_each_heading_and_each_file_s_details_in_both_languages_and_each_link_once()
    {
        var (output, result) = await NoticeTestMail.RewriteAsync(NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", PlainBody), "en+fr", maxDownloads: 1);
        var (_, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        Assert.EndsWith(
            "-- \r\n" +
            "1 attachment was removed from this message by Detach and can be downloaded:\r\n" +
            "1 pièce jointe a été retirée de ce message par Detach et peut être\r\ntéléchargée\u00A0:\r\n\r\n" +
            "* report1.pdf\r\n" +
            "  9.0 kB, available until 2026-12-24 10:00 UTC, at most 1 download\r\n" +
            "  9,0 ko, disponible jusqu’au 2026-12-24 10:00 UTC, 1 téléchargement au plus\r\n" +
            "  <" + result.Detached[0].Link + ">\r\n",
            text);

        var (_, html) = await NoticeTestMail.BodyAsync(await RewriteAlternativeAsync("fr+en"), "text/html");
        Assert.True(html.IndexOf("<p lang=\"fr\">", StringComparison.Ordinal) < html.IndexOf("<p lang=\"en\">", StringComparison.Ordinal), html);
        Assert.Contains("</a>\r\n<br><span lang=\"fr\">9,0 ko, disponible jusqu&#8217;au 2026-12-24 10:00 UTC</span>\r\n<br><span lang=\"en\">9.0 kB, available until 2026-12-24 10:00 UTC</span></li>", html, StringComparison.Ordinal);
        Assert.Equal(1, CountOf(html, "href="));
    }

    [Theory]
    [InlineData("en", "1 attachment was removed from this message by Detach and can be downloaded:", "9.0 kB, available until 2026-12-24 10:00 UTC, at most 2 downloads")]
    [InlineData("fr", "1 pi&#232;ce jointe a &#233;t&#233; retir&#233;e de ce message par Detach et peut &#234;tre t&#233;l&#233;charg&#233;e&#160;:",
        "9,0 ko, disponible jusqu&#8217;au 2026-12-24 10:00 UTC, 2 t&#233;l&#233;chargements au plus")]
    public async Task Html_notice_is_a_list_in_its_language_ascii_only_with_the_name_as_the_link(string language, string heading, string details)
    {
        var output = await RewriteAlternativeAsync(language, maxDownloads: 2);
        Assert.All(output, b => Assert.True(b < 0x80)); // character references, and the text part re-encoded in quoted-printable
        var link = (await Mail.ParseAsync(output)).Root.DescendantsAndSelf().First(e => e.MimeType == "message/external-body").ContentType.Parameters["URL"];
        var (_, html) = await NoticeTestMail.BodyAsync(output, "text/html");
        string notice = html[html.IndexOf("<div class=\"detach-notice\"", StringComparison.Ordinal)..(html.IndexOf("</div>", StringComparison.Ordinal) + 6)];
        Assert.Contains($"<p lang=\"{language}\">{heading}</p>", notice, StringComparison.Ordinal);
        Assert.Contains($"<li><a href=\"{link}\">report1.pdf</a>\r\n<br><span lang=\"{language}\">{details}</span></li>", notice, StringComparison.Ordinal);

        // Semantic and narrow-friendly: a list, no table, nothing with a fixed width, long words allowed to break.
        Assert.Matches("<ul[ >]", notice);
        Assert.DoesNotMatch("(?i)<table|width\\s*[:=]|white-space\\s*:\\s*nowrap", notice);
        Assert.Contains("overflow-wrap:break-word", notice, StringComparison.Ordinal);
        Assert.True(html.IndexOf(notice, StringComparison.Ordinal) < html.IndexOf("</body>", StringComparison.Ordinal));
        AssertBalanced(notice);
    }

    [Fact]
    public void A_long_non_ascii_name_never_makes_an_html_line_longer_than_998_octets()
    {
        string name = string.Concat(Enumerable.Repeat("\U0001F600\u7BA1", 50)) + ".pdf";
        var attachment = new DetachedAttachment(name, "application/pdf", 1, "https://vault.example.org/d/x#k", null);
        string html = new DetachNotice(NoticeOptions.Default, "Detach").Html([attachment], "\r\n");
        Assert.All(html.Split("\r\n"), line => Assert.True(line.Length <= 998, $"{line.Length}: {line}"));
        Assert.Contains("&#128512;&#31649;", html, StringComparison.Ordinal);
        Assert.Contains("<wbr\r\n>", html, StringComparison.Ordinal);
        string linkText = Regex.Match(html, "<a href=\"[^\"]*\">(.*?)</a>", RegexOptions.Singleline).Groups[1].Value;
        Assert.Equal(name, System.Net.WebUtility.HtmlDecode(Regex.Replace(linkText, "<wbr\\s*>", "")));
    }

    [Fact]
    public void A_withheld_file_is_listed_without_a_link_with_why_in_each_language()
    {
        var kept = new DetachedAttachment("a.pdf", "application/pdf", 9000, "https://vault.example.org/d/a#k", null);
        var withheld = new DetachedAttachment("b.exe", "application/octet-stream", 5000, "", null) { Withheld = "removed, it contains Test.Signature" };
        var notice = new DetachNotice(new NoticeOptions { Languages = NoticeLanguage.ParseChoice("fr+en", out _)! }, "Detach");
        Assert.Equal(
            ["-- ", "2 pièces jointes ont été retirées de ce message par Detach\u00A0; celles qui ont un", "lien peuvent être téléchargées\u00A0:",
             "2 attachments were removed from this message by Detach; those with a link can", "be downloaded:",
             "", "* a.pdf", "  9,0 ko", "  9.0 kB", "  <https://vault.example.org/d/a#k>",
             "", "* b.exe", "  5,0 ko, non disponible\u00A0: removed, it contains Test.Signature", "  5.0 kB, not available: removed, it contains Test.Signature"],
            notice.PlainLines([kept, withheld]));
        Assert.Equal(
            ["La pièce jointe «\u00A0b.exe\u00A0» (5,0 ko) a été retirée de ce message\u00A0: removed, it contains Test.Signature.",
             "The attachment \"b.exe\" (5.0 kB) was removed from this message: removed, it contains Test.Signature."],
            notice.WithheldLines(withheld));
        Assert.Contains("<li>b.exe\r\n<br><span lang=\"fr\">5,0 ko, non disponible&#160;: removed", notice.Html([kept, withheld], "\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("2 pièces jointes ont été retirées de ce message par Detach\u00A0:", new DetachNotice(new NoticeOptions { Languages = [NoticeLanguage.Find("fr")!] }, "Detach").PlainLines([withheld, withheld])[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_notice_size_is_written_one_way()
    {
        var (output, _) = await NoticeTestMail.RewriteAsync(NoticeTestMail.WithTextPart("", PlainBody), "fr");
        string raw = Encoding.ASCII.GetString(output);
        Assert.StartsWith("X-Detach: 1 attachment, 9.0 kB\r\n", raw, StringComparison.Ordinal); // the trace header is not for people: English
        Assert.Contains("Content-Description: report1.pdf (9,0 ko)", raw, StringComparison.Ordinal);
        Assert.Equal("9,1 ko", SizeText.Format(9092, NoticeLanguage.Find("fr")!.SizeWords));
        Assert.Equal("9.1 kB", SizeText.Format(9092, NoticeLanguage.English.SizeWords));
    }

    [Fact]
    public async Task A_uuencoded_file_is_replaced_by_a_line_in_the_notice_language()
    {
        byte[] data = MessageBuilder.RandomBytes(6000, 5);
        byte[] input = Mail.Crlf("Subject: uu\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nVoici :\n\nbegin 644 data.zip\n" +
            DecoderTests.UUEncode(data).Replace("\r\n", "\n", StringComparison.Ordinal) + "`\nend\nMerci.\n");
        var (output, result) = await NoticeTestMail.RewriteAsync(input, "fr");
        string text = Encoding.UTF8.GetString(output);
        Assert.Contains("Voici :\r\n\r\n[data.zip (6,0 ko) a été retiré\u00A0: <" + result.Detached[0].Link + ">]\r\nMerci.\r\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("en", "en")]
    [InlineData(" FR ", "fr")]
    [InlineData("en+fr", "en fr")]
    [InlineData("fr + en", "fr en")]
    public void A_choice_of_languages_parses(string choice, string tags)
    {
        var languages = NoticeLanguage.ParseChoice(choice, out var problem);
        Assert.Null(problem);
        Assert.Equal(tags, string.Join(' ', languages!.Select(l => l.Tag)));
    }

    [Theory]
    [InlineData("de", "'de', which is not a language of the notice (en, fr;")]
    [InlineData("", "'', which is not a language of the notice")]
    [InlineData("en+", "'', which is not a language of the notice")]
    [InlineData("fr+fr", "names 'fr' twice")]
    [InlineData("../x", "'../x', which is not a language of the notice")]
    public void A_bad_choice_is_named_with_the_languages_there_are(string choice, string expected)
    {
        Assert.Null(NoticeLanguage.ParseChoice(choice, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
        Assert.Contains("Policy:Language " + $"'{choice}'", string.Join('\n', new DetachPolicyOptions { Language = choice }.Validate()), StringComparison.Ordinal);
    }

    [Fact]
    public void The_policy_picks_the_language_of_the_sender_s_domain()
    {
        var policy = new DetachPolicyOptions { Language = "en", LanguageBySenderDomain = { ["example.fr"] = "fr", ["example.ca"] = "fr+en" } };
        Assert.Empty(policy.Validate());
        Assert.Equal(["fr"], policy.NoticeLanguagesFor("EXAMPLE.fr").Select(l => l.Tag));
        Assert.Equal(["fr", "en"], policy.NoticeLanguagesFor("example.ca").Select(l => l.Tag));
        Assert.Equal(["en"], policy.NoticeLanguagesFor("sub.example.fr").Select(l => l.Tag));
        Assert.Equal(["en"], policy.NoticeLanguagesFor(null).Select(l => l.Tag));
        policy.LanguageBySenderDomain["example.de"] = "de";
        Assert.Contains("Policy:LanguageBySenderDomain:example.de 'de'", string.Join('\n', policy.Validate()), StringComparison.Ordinal);
    }

    [Fact]
    public void Each_language_file_has_every_text_of_the_english_one()
    {
        foreach (var tag in NoticeLanguage.Available())
        {
            Assert.NotNull(NoticeLanguage.ParseChoice(tag, out var problem));
            Assert.Null(problem);
        }
        Assert.Equal(["en", "fr"], NoticeLanguage.Available());
    }

    private static async Task<byte[]> RewriteAlternativeAsync(string language, int? maxDownloads = null) =>
        (await NoticeTestMail.RewriteAsync(NoticeTestMail.WithFirstPart(Alternative), language, maxDownloads)).Output;

    /// <summary>Every element closed, in order (br is void).</summary>
    private static void AssertBalanced(string html)
    {
        var open = new Stack<string>();
        foreach (var tag in TagPattern().Matches(html).Select(m => m.Groups[1].Value))
        {
            if (tag == "br")
            {
                continue;
            }

            if (!tag.StartsWith('/'))
            {
                open.Push(tag);
            }
            else
            {
                Assert.Equal(open.Pop(), tag[1..]);
            }
        }
        Assert.Empty(open);
    }

    private static int CountOf(string text, string value)
    {
        int count = 0;
        for (int i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    [GeneratedRegex("<(/?[a-zA-Z]+)")]
    private static partial Regex TagPattern();
}
