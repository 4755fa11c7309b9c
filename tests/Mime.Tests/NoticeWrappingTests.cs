using System.Text;
using System.Text.RegularExpressions;

namespace Detach.Mime.Tests;

/// <summary>
/// The text notice after a mail client re-wraps it: as format=flowed (RFC 3676: soft line breaks, space-stuffing,
/// with and without DelSp) and read back, as the raw flowed text a plain reader shows, and hard-wrapped at 78
/// columns, breaking inside words where a line has no space. Every link must still give the same CID and key.
/// </summary>
public partial class NoticeWrappingTests
{
    private static readonly byte[] Prose = Encoding.UTF8.GetBytes(
        "Bonjour, voici les fichiers promis lors de notre réunion de jeudi dernier; dites-moi s'il manque quelque chose.\r\n");

    [Theory]
    [InlineData("en")]
    [InlineData("fr")]
    [InlineData("en+fr")]
    public async Task Every_link_parses_back_to_its_cid_and_key_after_a_client_rewraps_the_text(string language)
    {
        byte[] input = NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", Prose, files: 3);
        var (output, result) = await NoticeTestMail.RewriteAsync(input, language, maxDownloads: 10);
        var (_, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        var expected = result.Detached.Select(d => CidAndKey(d.Link)).ToList();
        Assert.Equal(3, expected.Count);

        string notice = text[text.IndexOf("\r\n-- \r\n", StringComparison.Ordinal)..];
        foreach (var line in notice.Split("\r\n").Where(l => l != "-- "))
        {
            Assert.False(line.EndsWith(' '), $"'{line}' would flow into the next line");
            Assert.True(line.Length <= 78 || line.TrimStart().StartsWith("<http", StringComparison.Ordinal), $"'{line}' is longer than 78 characters");
        }
        Assert.Equal(expected, LinksIn(text));

        var rewraps = new Dictionary<string, string>
        {
            ["hard wrap at 78"] = ClientText.HardWrap(text, 78),
            ["format=flowed as sent"] = ClientText.Flow(text, 78, delSp: false),
            ["format=flowed read back"] = ClientText.Unflow(ClientText.Flow(text, 78, delSp: false), delSp: false),
            ["format=flowed; delsp=yes as sent"] = ClientText.Flow(text, 78, delSp: true),
            ["format=flowed; delsp=yes read back"] = ClientText.Unflow(ClientText.Flow(text, 78, delSp: true), delSp: true),
            ["flowed, then hard-wrapped by the reader"] = ClientText.HardWrap(ClientText.Unflow(ClientText.Flow(text, 72, delSp: true), delSp: true), 78),
        };
        foreach (var (how, rewrapped) in rewraps)
        {
            Assert.True(expected.SequenceEqual(LinksIn(rewrapped)), $"{how}:\n{rewrapped}");
        }
        Assert.NotEqual(text, rewraps["hard wrap at 78"]); // the wrap did cut the links
    }

    [Fact]
    public async Task A_notice_appended_to_a_flowed_body_keeps_its_lines_when_the_body_is_read_as_flowed()
    {
        byte[] flowed = Encoding.UTF8.GetBytes("Bonjour, voici les fichiers promis lors de notre \r\nréunion de jeudi.\r\n");
        byte[] input = NoticeTestMail.WithTextPart("Content-Type: text/plain; charset=utf-8; format=flowed\nContent-Transfer-Encoding: 8bit", flowed, files: 2);
        var (output, result) = await NoticeTestMail.RewriteAsync(input, "fr");
        var (_, text) = await NoticeTestMail.BodyAsync(output, "text/plain");
        string read = ClientText.Unflow(text, delSp: false);
        Assert.StartsWith("Bonjour, voici les fichiers promis lors de notre réunion de jeudi.\r\n\r\n-- \r\n", read, StringComparison.Ordinal);
        Assert.Contains("\r\n* report2.pdf\r\n", read, StringComparison.Ordinal);
        Assert.Equal(result.Detached.Select(d => CidAndKey(d.Link)), LinksIn(read));
    }

    [Fact]
    public void The_client_models_do_what_rfc_3676_says()
    {
        string text = "From here on, a line long enough to be wrapped somewhere, and a word: " + new string('x', 50) + "\r\n> quoted\r\n-- \r\nsig";
        foreach (var delSp in new[] { false, true })
        {
            string flowed = ClientText.Flow(text, 40, delSp);
            var lines = flowed.Split("\r\n");
            Assert.StartsWith(" From here", lines[0], StringComparison.Ordinal); // space-stuffed
            Assert.EndsWith(delSp ? "  " : " ", lines[0], StringComparison.Ordinal); // a soft break (DelSp adds the space it deletes)
            Assert.Contains(" > quoted", lines);
            Assert.Contains("-- ", lines);
            Assert.Equal(delSp, lines.All(l => l.Length <= 41)); // without DelSp a word is never cut
            Assert.Equal(text, ClientText.Unflow(flowed, delSp));
        }
        Assert.Equal("abcde\r\nfghij\r\nk", ClientText.HardWrap("abcdefghijk", 5));
        Assert.Equal("ab cd\r\nef", ClientText.HardWrap("ab cd ef", 5));
    }

    /// <summary>What a client takes as each link: the text between '&lt;' and '&gt;' with all white space removed (RFC 3986, appendix C).</summary>
    private static List<(string Cid, string Key)> LinksIn(string text) =>
        [.. BracketedLink().Matches(text).Select(m => CidAndKey(Regex.Replace(m.Groups[1].Value, "\\s", "")))];

    private static (string Cid, string Key) CidAndKey(string link)
    {
        var uri = new Uri(link);
        Assert.StartsWith("/d/", uri.AbsolutePath, StringComparison.Ordinal);
        return (uri.AbsolutePath[3..], uri.Fragment.TrimStart('#'));
    }

    [GeneratedRegex("<\\s*(h\\s*t\\s*t\\s*p[^<>]*)>")]
    private static partial Regex BracketedLink();
}

/// <summary>How mail clients re-wrap plain text: RFC 3676 format=flowed both ways, and a plain hard wrap.</summary>
internal static class ClientText
{
    /// <summary>
    /// Sends <paramref name="text"/> as format=flowed: lines longer than <paramref name="width"/> break after a space
    /// (the space stays at the end: a soft break); with DelSp every soft break gets one more space, which the reader
    /// deletes, so that a line without a space can break anywhere. Lines starting with a space, '&gt;' or "From " are space-stuffed.
    /// </summary>
    public static string Flow(string text, int width, bool delSp)
    {
        var output = new List<string>();
        foreach (var hard in text.Split("\r\n"))
        {
            if (hard == "-- ")
            {
                output.Add(hard);
                continue;
            }
            string rest = hard.TrimEnd(' ');
            while (rest.Length > width)
            {
                int space = rest.LastIndexOf(' ', width - 1);
                if (space <= 0)
                {
                    space = delSp ? -1 : rest.IndexOf(' ', width);
                }

                int cut = space > 0 ? space + 1 : delSp ? width - 1 : rest.Length;
                if (cut >= rest.Length)
                {
                    break;
                }

                output.Add(rest[..cut] + (delSp ? " " : ""));
                rest = rest[cut..];
            }
            output.Add(rest);
        }
        return string.Join("\r\n", output.Select(l => l.StartsWith(' ') || l.StartsWith('>') || l.StartsWith("From ", StringComparison.Ordinal) ? " " + l : l));
    }

    /// <summary>Reads format=flowed text: removes space-stuffing and joins each soft-broken line to the next.</summary>
    public static string Unflow(string text, bool delSp)
    {
        var lines = new List<string>();
        var paragraph = new StringBuilder();
        foreach (var raw in text.Split("\r\n"))
        {
            string line = raw.StartsWith(' ') ? raw[1..] : raw;
            bool soft = line.EndsWith(' ') && line != "-- ";
            paragraph.Append(soft && delSp ? line[..^1] : line);
            if (soft)
            {
                continue;
            }

            lines.Add(paragraph.ToString());
            paragraph.Clear();
        }
        if (paragraph.Length > 0)
        {
            lines.Add(paragraph.ToString());
        }

        return string.Join("\r\n", lines);
    }

    /// <summary>A plain hard wrap: each line longer than <paramref name="width"/> breaks at its last space that fits, or at the width itself.</summary>
    public static string HardWrap(string text, int width)
    {
        var output = new List<string>();
        foreach (var line in text.Split("\r\n"))
        {
            string rest = line;
            while (rest.Length > width)
            {
                int space = rest.LastIndexOf(' ', width);
                if (space > 0 && rest[..space].Trim().Length > 0)
                {
                    output.Add(rest[..space]);
                    rest = rest[(space + 1)..];
                }
                else
                {
                    output.Add(rest[..width]);
                    rest = rest[width..];
                }
            }
            output.Add(rest);
        }
        return string.Join("\r\n", output);
    }
}
