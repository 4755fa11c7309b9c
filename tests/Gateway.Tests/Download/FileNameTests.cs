using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

public class FileNameTests
{
    public const string Hostile = "<script>alert(1)</script>\"\u202Egpj.exe\r\nSet-Cookie: x=1\\..\\x";

    [Fact]
    public void ContentDispositionOfAHostileNameStaysOneSafeHeaderValue()
    {
        var value = ContentDispositionValue.Attachment(Hostile);

        Assert.StartsWith("attachment; filename=\"", value, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', value);
        Assert.DoesNotContain('\n', value);
        Assert.DoesNotContain('\u202E', value);
        Assert.All(value, c => Assert.InRange(c, ' ', '~'));

        // Nothing could end the quoted string early or start another header.
        Assert.Equal("attachment; filename=\"_script_alert(1)__script__gpj.exe  Set-Cookie_ x=1_.._x\"", value);
    }

    [Fact]
    public void UnicodeNamesKeepTheirTextInTheExtendedParameter()
    {
        var value = ContentDispositionValue.Attachment("Résumé 2026 – 東京.pdf");

        Assert.Equal("attachment; filename=\"R_sum_ 2026 _ __.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026%20%E2%80%93%20%E6%9D%B1%E4%BA%AC.pdf", value);
        var encoded = value[(value.IndexOf("''", StringComparison.Ordinal) + 2)..];
        Assert.Equal("Résumé 2026 – 東京.pdf", Uri.UnescapeDataString(encoded));
    }

    [Fact]
    public void PlainAsciiNamesNeedNoExtendedParameter() =>
        Assert.Equal("attachment; filename=\"report.pdf\"", ContentDispositionValue.Attachment("report.pdf"));

    [Theory]
    [InlineData(null, "download")]
    [InlineData("", "download")]
    [InlineData("...", "download")]
    [InlineData("../../etc/passwd", "_.._etc_passwd")]
    [InlineData(".bashrc", "bashrc")]
    [InlineData("a\u202Egpj.exe", "agpj.exe")]
    [InlineData("two\nlines.txt", "two lines.txt")]
    public void SavedNamesHaveNoPathsControlsOrOverrides(string? name, string expected) =>
        Assert.Equal(expected, FileNameText.ForSaving(name));

    [Fact]
    public void LongNamesAreCutWithoutSplittingSurrogatePairs()
    {
        var name = new string('a', FileNameText.MaxLength - 1) + "😀😀";
        var saved = FileNameText.ForSaving(name);
        Assert.Equal(FileNameText.MaxLength - 1, saved.Length);
        Assert.False(char.IsSurrogate(saved[^1]));
    }

    [Fact]
    public void HtmlEscapingCoversMarkupQuotesAndInvisibleCharacters()
    {
        var escaped = HtmlText.Escape(Hostile);
        Assert.DoesNotContain('<', escaped);
        Assert.DoesNotContain('>', escaped);
        Assert.DoesNotContain('"', escaped);
        Assert.DoesNotContain('\u202E', escaped);
        Assert.DoesNotContain('\n', escaped);
        Assert.StartsWith("&lt;script&gt;alert(1)&lt;/script&gt;&quot;", escaped, StringComparison.Ordinal);
    }
}
