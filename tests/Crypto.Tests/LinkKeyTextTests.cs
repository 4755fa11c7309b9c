namespace Detach.Crypto.Tests;

public class LinkKeyTextTests
{
    [Fact]
    public void RoundTripsRandomKeys()
    {
        for (int i = 0; i < 200; i++)
        {
            using var key = FileKey.Generate();
            var text = LinkKeyText.Encode(key.LinkKey);
            Assert.Equal(43, text.Length);
            Assert.Matches("^[A-Za-z0-9_-]{43}$", text);
            Assert.Equal(key.LinkKey.ToArray(), LinkKeyText.Parse(text));
            Assert.True(LinkKeyText.TryParse(text, out var parsed));
            Assert.Equal(key.LinkKey.ToArray(), parsed);
        }
    }

    [Fact]
    public void KnownEncoding()
    {
        var key = Enumerable.Range(0, 32).Select(i => (byte)(i * 8)).ToArray();
        var expected = Convert.ToBase64String(key).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Equal(expected, LinkKeyText.Encode(key));
        Assert.Equal(new string('A', 43), LinkKeyText.Encode(new byte[32]));
        Assert.Equal(new string('_', 42) + "8", LinkKeyText.Encode(Enumerable.Repeat((byte)0xff, 32).ToArray()));
    }

    public static readonly TheoryData<string> Rejected =
    [
        "",
        new string('A', 42),
        new string('A', 44),
        new string('A', 42) + "=",
        new string('A', 43) + "=",
        "+" + new string('A', 42),
        "/" + new string('A', 42),
        " " + new string('A', 42),
        new string('A', 42) + "\n",
        new string('A', 21) + " " + new string('A', 21),
        new string('A', 21) + "\t" + new string('A', 21),
        new string('A', 42) + "B", // trailing bits 01: not canonical
        new string('A', 42) + "D", // trailing bits 11
        new string('_', 42) + "9",
        new string('A', 42) + "é",
        new string('A', 42) + "\0",
    ];

    [Theory]
    [MemberData(nameof(Rejected))]
    public void RejectsNonCanonicalText(string text)
    {
        Assert.False(LinkKeyText.TryParse(text, out var key));
        Assert.Empty(key);
        var error = Assert.Throws<FormatException>(() => LinkKeyText.Parse(text));
        var visible = text.Trim();
        if (visible.Length >= 4)
        {
            Assert.DoesNotContain(visible[..4], error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ErrorNeverEchoesTheInput()
    {
        using var key = FileKey.Generate();
        var text = LinkKeyText.Encode(key.LinkKey);
        var tampered = text[..20] + "+" + text[21..];
        var error = Assert.Throws<FormatException>(() => LinkKeyText.Parse(tampered));
        for (int i = 0; i + 6 <= tampered.Length; i++)
        {
            Assert.DoesNotContain(tampered.Substring(i, 6), error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void NullIsRejected()
    {
        Assert.False(LinkKeyText.TryParse(null, out var key));
        Assert.Empty(key);
        Assert.Throws<ArgumentNullException>(() => LinkKeyText.Parse(null!));
        Assert.Throws<ArgumentException>(() => LinkKeyText.Encode(new byte[31]));
    }
}
