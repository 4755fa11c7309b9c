using System.Text;

namespace Detach.Mime.Tests;

public class HeaderAndFileNameTests
{
    private static async Task<string?> FileNameOf(string headers)
    {
        var entity = await Parse("MIME-Version: 1.0\r\n" + headers + "\r\n\r\nbody\r\n");
        return entity.RawFileName;
    }

    private static Task<MimeEntity> Parse(string message, Encoding? encoding = null)
    {
        var stream = new MemoryStream((encoding ?? Encoding.Latin1).GetBytes(message));
        return new MimeStreamReader(stream).ReadAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Rfc2231_continuations_with_charset_and_language()
    {
        string? name = await FileNameOf(
            "Content-Type: application/pdf\r\n" +
            "Content-Disposition: attachment;\r\n" +
            " filename*0*=iso-8859-1'fr'caf%E9;\r\n" +
            " filename*1*=%20cr%E8me;\r\n" +
            " filename*2=\" br\u00FBl\u00E9e.pdf\"");
        Assert.Equal("caf\u00E9 cr\u00E8me br\u00FBl\u00E9e.pdf", name);
    }

    [Fact]
    public async Task Rfc2231_segments_out_of_order_and_utf8()
    {
        string? name = await FileNameOf(
            "Content-Type: application/octet-stream;\r\n" +
            " name*1*=%E6%96%87%E4%BB%B6.txt;\r\n" +
            " name*0*=UTF-8''%E4%B8%AD");
        Assert.Equal("\u4E2D\u6587\u4EF6.txt", name);
    }

    [Fact]
    public async Task Rfc2231_value_wins_over_plain_parameter()
    {
        string? name = await FileNameOf("Content-Disposition: attachment; filename=\"fallback.txt\"; filename*=utf-8''r%C3%A9sum%C3%A9.txt");
        Assert.Equal("r\u00E9sum\u00E9.txt", name);
    }

    [Fact]
    public async Task Rfc2047_filename_in_iso_8859_1_quoted_printable()
    {
        Assert.Equal("R\u00E9sum\u00E9 final.doc", await FileNameOf("Content-Disposition: attachment; filename=\"=?ISO-8859-1?Q?R=E9sum=E9_final.doc?=\""));
    }

    [Fact]
    public async Task Rfc2047_filename_in_utf8_base64_split_over_two_words()
    {
        // "日本語.pdf" with the middle character's bytes split between words, as some mailers do.
        byte[] utf8 = Encoding.UTF8.GetBytes("\u65E5\u672C\u8A9E.pdf");
        string w1 = Convert.ToBase64String(utf8[..4]);
        string w2 = Convert.ToBase64String(utf8[4..]);
        Assert.Equal("\u65E5\u672C\u8A9E.pdf", await FileNameOf($"Content-Type: application/pdf; name=\"=?utf-8?B?{w1}?=\r\n =?utf-8?B?{w2}?=\""));
    }

    [Fact]
    public void Rfc2047_legacy_code_pages_need_the_provider()
    {
        Assert.Equal("\u0421\u043F\u0438\u0441\u043E\u043A.doc", EncodedWords.Decode("=?koi8-r?B?89DJ08/LLmRvYw==?="));
        Assert.Equal("\u20ACuro.txt", EncodedWords.Decode("=?windows-1252?Q?=80uro.txt?="));
        Assert.Equal("\uC0AC\uC9C4.JPG", EncodedWords.Decode("=?ks_c_5601-1987?B?u+fB+C5KUEc=?="));
    }

    /// <summary>
    /// Encoded words inside RFC 2231 values, as some mailers write them (issue 11, item 6): clients such as Thunderbird
    /// and Gmail show them decoded, so the name we store and show must be decoded too.
    /// </summary>
    [Theory]
    [InlineData("Content-Disposition: attachment; filename*=UTF-8''%3D%3Futf-8%3FB%3Fw6TDtsO8LnBkZg%3D%3D%3F%3D")]
    [InlineData("Content-Disposition: attachment; filename*=utf-8''=?utf-8?B?w6TDtsO8LnBkZg==?=")]
    [InlineData("Content-Disposition: attachment; filename*0=\"=?UTF-8?B?w6TDtsO8?=\"; filename*1=\".pdf\"")]
    [InlineData("Content-Disposition: attachment;\r\n filename*0=\"=?UTF-8?B?w6TDtsO8\";\r\n filename*1=\"LnBkZg==?=\"")]
    [InlineData("Content-Type: application/pdf;\r\n name*0*=utf-8''%3D%3FISO-8859-1%3FQ%3F%3DE4%3DF6;\r\n name*1*=%3DFC.pdf%3F%3D")]
    [InlineData("Content-Type: application/pdf; name*=\"=?iso-8859-1?Q?=E4=F6=FC.pdf?=\"")]
    public async Task Encoded_words_nested_in_rfc2231_values_are_decoded(string headers)
    {
        Assert.Equal("\u00E4\u00F6\u00FC.pdf", await FileNameOf(headers));
    }

    [Fact]
    public async Task Content_type_name_is_the_fallback()
    {
        Assert.Equal("scan.tiff", await FileNameOf("Content-Type: image/tiff; name=scan.tiff\r\nContent-Disposition: attachment"));
    }

    [Fact]
    public async Task Unquoted_names_with_spaces_and_raw_utf8_survive()
    {
        var entity = await Parse("Content-Type: application/msword; name=my report.doc\r\n\r\nx");
        Assert.Equal("my report.doc", entity.RawFileName);
        var raw = await Parse("Content-Disposition: attachment; filename=\u7BA1\u7406.doc\r\n\r\nx", Encoding.UTF8);
        Assert.Equal("\u7BA1\u7406.doc", raw.RawFileName);
    }

    [Theory]
    [InlineData("../../etc/passwd", "application/octet-stream", "passwd")]
    [InlineData("C:\\Users\\x\\evil.exe", "application/octet-stream", "evil.exe")]
    [InlineData("invoice\u202Efdp.exe", "application/pdf", "invoicefdp.exe")]
    [InlineData("a\u0000b\u0007c\r\n.txt", "text/plain", "abc.txt")]
    [InlineData("   ", "application/pdf", "attachment.pdf")]
    [InlineData(null, "image/jpeg", "attachment.jpg")]
    [InlineData(null, "application/x-unknown", "attachment.bin")]
    [InlineData("...", "message/rfc822", "attachment.eml")]
    [InlineData("CON.txt", "text/plain", "_CON.txt")]
    [InlineData("what?.txt", "text/plain", "what_.txt")]
    public void File_names_are_sanitised(string? input, string mimeType, string expected)
    {
        Assert.Equal(expected, FileNames.Sanitize(input, mimeType));
    }

    [Fact]
    public void Long_file_names_are_bounded_and_keep_their_extension()
    {
        string name = FileNames.Sanitize(new string('x', 5000) + ".pdf", "application/pdf");
        Assert.Equal(FileNames.MaxLength, name.Length);
        Assert.EndsWith(".pdf", name, StringComparison.Ordinal);
    }

    [Fact]
    public void Policy_validation_names_the_bad_key()
    {
        var errors = new DetachPolicyOptions { MinSizeBytes = -1, MaxAttachmentsPerMessage = 0 }.Validate();
        Assert.Contains(errors, e => e.Contains("Policy:MinSizeBytes", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Policy:MaxAttachmentsPerMessage", StringComparison.Ordinal));
        Assert.Empty(new DetachPolicyOptions().Validate());
        Assert.Throws<ArgumentException>(() => new MimeRewriter(new DetachPolicyOptions { MinSizeBytes = -5 }, new RecordingSink()));
    }
}
