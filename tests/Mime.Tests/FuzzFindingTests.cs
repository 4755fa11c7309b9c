namespace Detach.Mime.Tests;

/// <summary>Bugs the mime-rewrite fuzz target found (fuzz/findings/mime-rewrite holds the inputs), as small cases.</summary>
public class FuzzFindingTests
{
    private const string Attachment =
        "--b\n" +
        "Content-Type: application/octet-stream\n" +
        "Content-Disposition: attachment; filename*=utf-8''caf%C3%A9.bin\n" +
        "Content-Transfer-Encoding: base64\n\n" +
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n" +
        "--b--\n";

    /// <summary>A multipart/mixed message: the given text part, then an attachment with a non-ASCII name.</summary>
    private static byte[] WithAttachment(string textPart) =>
        Mail.Crlf("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" + textPart + Attachment);

    [Fact]
    public async Task A_text_part_in_utf7_is_rewritten_instead_of_throwing()
    {
        var input = WithAttachment("Content-Type: text/plain; charset=utf-7\n\nhello +AKM-1\n");
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    [Theory]
    [InlineData("Content-Type: text/plain; name=\"open")]
    [InlineData("Content-Type: terset=\"ug: quoted-printable")]
    public async Task A_seven_bit_text_part_with_a_broken_content_type_gets_a_clean_one_when_it_becomes_utf8(string contentType)
    {
        var input = WithAttachment(contentType + "\n\nplain text\n");
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        var text = (await Mail.ParseAsync(output)).Root.Children[0];
        Assert.Equal("utf-8", text.ContentType.Parameters["charset"]);
        Assert.Equal(TransferEncoding.QuotedPrintable, text.TransferEncoding);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    [Fact]
    public async Task A_quoted_printable_text_that_ends_in_a_soft_break_gains_no_newline_with_the_notice()
    {
        var input = WithAttachment("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nno newline at the end=\n");
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        // The decoded text is the original around the inserted notice, with no newline added at its end.
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    /// <summary>
    /// Found by the second campaign: the rewrite was right and the oracle too strict. A quoted-printable or base64
    /// text whose characters are all ASCII is relabelled UTF-8 when its charset cannot spell the notice (here the file
    /// name "café"), as a 7bit one is; only the charset changes, the transfer encoding stays.
    /// </summary>
    [Theory]
    [InlineData("charset=us-ascii", "quoted-printable", "plain text=\n\n")]
    [InlineData("charset=\"ISO-885\u0004\u00001\"", "quoted-printable", "plain text\n")]
    [InlineData("charset=us-ascii", "base64", "cGxhaW4gdGV4dAo=\n")]
    [InlineData("x: 7bit", "base64", "cGxhaW4gdGV4dAo=\n")]
    public async Task An_ascii_text_is_relabelled_utf8_in_its_own_encoding_when_its_charset_cannot_spell_the_notice(string parameters, string encoding, string body)
    {
        var input = WithAttachment($"Content-Type: text/plain; {parameters}\nContent-Transfer-Encoding: {encoding}\n\n{body}");
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        var text = (await Mail.ParseAsync(output)).Root.Children[0];
        Assert.Equal("utf-8", text.ContentType.Parameters["charset"]);
        Assert.Equal(encoding, text.FindHeader("Content-Transfer-Encoding")!.Value);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }
}
