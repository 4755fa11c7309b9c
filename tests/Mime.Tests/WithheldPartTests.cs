using System.Text.RegularExpressions;
using System.Text;

namespace Detach.Mime.Tests;

/// <summary>Parts a sink declines to store (a scanner's finding), and trace fields added after the rewrite.</summary>
public sealed class WithheldPartTests
{
    /// <summary>Withholds attachments named "bad*", stores the rest like <see cref="RecordingSink"/>.</summary>
    private sealed class WithholdingSink : IAttachmentSink
    {
        private readonly RecordingSink _stored = new();

        public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
        {
            if (!attachment.FileName.StartsWith("bad", StringComparison.Ordinal))
            {
                return await _stored.StoreAsync(attachment, decodedContent, cancellationToken);
            }

            var size = (await Mail.ReadAllAsync(decodedContent)).Length;
            return new DetachedAttachment(attachment.FileName, attachment.ContentType, size, "", null) { Withheld = "removed, it contains Test.Signature" };
        }
    }

    private static async Task<(byte[] Output, PreparedMessage Result)> RewriteAsync(byte[] input)
    {
        var result = await new MimeRewriter(new DetachPolicyOptions { MinSizeBytes = 0 }, new WithholdingSink())
            .PrepareAsync(new MemoryStream(input, writable: false), TestContext.Current.CancellationToken);
        var output = new MemoryStream();
        await result.WriteToAsync(output, TestContext.Current.CancellationToken);
        return (output.ToArray(), result);
    }

    private static byte[] Message(string eol) => Encoding.ASCII.GetBytes(string.Join(eol,
        "From: a@example.com", "To: b@example.com", "Subject: two files", "Message-ID: <w@example.com>", "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"b1\"", "",
        "--b1", "Content-Type: text/plain; charset=us-ascii", "", "Two files.", "",
        "--b1", "Content-Type: application/octet-stream; name=\"good.bin\"", "Content-Disposition: attachment; filename=\"good.bin\"", "Content-Transfer-Encoding: base64", "",
        Convert.ToBase64String(new byte[6000]),
        "--b1", "Content-Type: application/octet-stream; name=\"bad.exe\"", "Content-Disposition: attachment; filename=\"bad.exe\"", "Content-Transfer-Encoding: base64", "",
        Convert.ToBase64String(new byte[5000]),
        "--b1--", ""));

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\n")]
    public async Task A_withheld_part_becomes_a_notice_with_the_reason_and_the_notice_lists_it_without_a_link(string eol)
    {
        var (output, result) = await RewriteAsync(Message(eol));
        var text = Encoding.ASCII.GetString(output);

        Assert.Equal(2, result.Detached.Count);
        Assert.Contains("Content-Description: good.bin", text, StringComparison.Ordinal);
        Assert.DoesNotContain("bad.exe\"" + eol + "Content-Transfer-Encoding: base64", text, StringComparison.Ordinal);
        var decoded = text.Replace("=" + eol, "", StringComparison.Ordinal).Replace("=22", "\"", StringComparison.Ordinal);
        Assert.Contains("The attachment \"bad.exe\" (5.0 kB) was removed from this message: removed, it contains Test.Signature.", decoded, StringComparison.Ordinal);
        Assert.Contains("* bad.exe" + eol + "  5.0 kB, not available: removed, it contains Test.Signature", decoded, StringComparison.Ordinal);
        Assert.Contains("; those with a link can" + eol + "be downloaded:", decoded, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(text, "Content-Type: message/external-body"));
        if (eol == "\n")
        {
            Assert.DoesNotContain('\r', text);
        }

        var structure = await Mail.ParseAsync(output);
        Assert.Equal(3, structure.Root.Children.Count);
    }

    [Fact]
    public async Task A_header_field_goes_first_in_the_message_line_ending_folded_at_spaces()
    {
        var (_, result) = await RewriteAsync(Message("\n"));
        var value = string.Join("; ", Enumerable.Range(1, 6).Select(i => $"infected: Some.Long.Signature.Name-{i}"));

        var output = new MemoryStream();
        await result.WithHeaderField("X-Detach-Scan", value).WriteToAsync(output, TestContext.Current.CancellationToken);
        var text = Encoding.ASCII.GetString(output.ToArray());

        Assert.StartsWith("X-Detach-Scan: infected:", text, StringComparison.Ordinal);
        var field = text[..text.IndexOf("\nX-Detach:", StringComparison.Ordinal)];
        Assert.DoesNotContain('\r', field);
        Assert.All(field.Split('\n'), line => Assert.True(line.Length <= 78, line));
        Assert.Equal(value, field.Replace("\n ", " ", StringComparison.Ordinal)["X-Detach-Scan: ".Length..]);
        Assert.Throws<ArgumentException>(() => result.WithHeaderField("X-Detach-Scan", "two\r\nlines"));
    }
}
