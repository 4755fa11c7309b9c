using System.Text;

namespace Detach.Mime.Tests;

public class RewriterTests
{
    private static readonly DetachPolicyOptions Defaults = new();

    [Fact]
    public async Task Replacement_is_an_external_body_part_with_the_original_name_type_and_size()
    {
        byte[] data = MessageBuilder.RandomBytes(10_000);
        string name = "Qu\u00E4rterly r\u00E9port \u2014 " + new string('x', 80) + ".pdf";
        string encodedName = "filename*=utf-8''" + Uri.EscapeDataString(name);
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(data,
            $"Content-Type: application/pdf\nContent-Disposition: attachment; {encodedName}\nContent-ID: <part1@example.org>"));
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);

        var s = await Mail.ParseAsync(output);
        var part = s.Root.Children[1];
        Assert.Equal("message/external-body", part.MimeType);
        Assert.Equal("URL", part.ContentType.Parameters["access-type"]);
        Assert.Equal(result.Detached[0].Link, part.ContentType.Parameters["URL"]);
        Assert.Equal("10000", part.ContentType.Parameters["size"]);
        Assert.NotNull(part.ContentType.Parameters["expiration"]);

        // The phantom header of the external body carries the original type, name, size and Content-ID.
        var phantom = await new MimeStreamReader(s.OpenRawBody(part)).ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal("application/pdf", phantom.MimeType);
        Assert.Equal(FileNames.Sanitize(name, "application/pdf"), phantom.RawFileName);
        Assert.Equal(FileNames.Sanitize(name, "application/pdf"), phantom.ContentType.Parameters["name"]);
        Assert.Equal("10000", phantom.ContentDisposition!.Parameters["size"]);
        Assert.Equal("<part1@example.org>", phantom.ContentId);

        // 7-bit clean and lines within 998 octets, since the input was; the generated header lines fold at 78.
        Assert.All(output, b => Assert.True(b < 128));
        Assert.All(Encoding.ASCII.GetString(output).Split("\r\n"), line => Assert.True(line.Length <= 998, line));
        string replacement = Encoding.ASCII.GetString(output)[(int)part.HeaderStart..(int)part.End];
        Assert.All(replacement.Split("\r\n"), line => Assert.True(line.Length <= 78, line));
    }

    [Fact]
    public async Task Notice_is_appended_to_plain_text_with_name_size_link_and_expiry()
    {
        byte[] data = MessageBuilder.RandomBytes(10_000);
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(data));
        var (output, result, _) = await Mail.RewriteAsync(input, Defaults);
        var s = await Mail.ParseAsync(output);
        string text = Encoding.ASCII.GetString(await Mail.ReadAllAsync(s.OpenBody(s.Root.Children[0])));
        Assert.StartsWith("Hello,\r\nplease find the report attached.\r\n\r\n-- \r\n1 attachment was removed", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n* report.pdf\r\n  10.0 kB, available until 2026-12-24 10:00 UTC\r\n  <" + result.Detached[0].Link + ">", text, StringComparison.Ordinal);
        Assert.StartsWith("X-Detach: 1 attachment, 10.0 kB\r\n", Encoding.ASCII.GetString(output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Html_body_in_base64_gets_the_notice_before_body_close_and_is_re_encoded()
    {
        string html = "<html><head><title>t</title></head><BODY>\r\n<p>Caf\u00E9 \u2603</p>\r\n</BODY></html>\r\n";
        byte[] data = MessageBuilder.RandomBytes(9000);
        byte[] input = Mail.Crlf(
            "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: multipart/alternative; boundary=b2\n\n" +
            "--b2\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 =E2=98=83\n" +
            "--b2\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(Encoding.UTF8.GetBytes(html), "\n") + "\n" +
            "--b2--\n--b1\nContent-Type: application/zip\nContent-Disposition: attachment; filename=\"<b>&x.zip\"\nContent-Transfer-Encoding: base64\n\n" +
            MessageBuilder.Base64Lines(data, "\n") + "\n--b1--\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
        var s = await Mail.ParseAsync(output);
        var alt = s.Root.Children[0];
        string newHtml = Encoding.UTF8.GetString(await Mail.ReadAllAsync(s.OpenBody(alt.Children[1])));
        Assert.Equal(1, CountOf(newHtml.ToUpperInvariant(), "<BODY"));
        int notice = newHtml.IndexOf("detach-notice", StringComparison.Ordinal);
        Assert.True(notice > newHtml.IndexOf("Caf\u00E9", StringComparison.Ordinal) && notice < newHtml.IndexOf("</BODY>", StringComparison.Ordinal));
        Assert.Contains("_b_&amp;x.zip", newHtml, StringComparison.Ordinal); // sanitised, then HTML-escaped
        Assert.DoesNotContain("<b>&x.zip", newHtml, StringComparison.Ordinal);
        string plain = Encoding.UTF8.GetString(await Mail.ReadAllAsync(s.OpenBody(alt.Children[0])));
        Assert.StartsWith("Caf\u00E9 \u2603", plain, StringComparison.Ordinal);
        Assert.Contains("_b_&x.zip", plain, StringComparison.Ordinal);
        // The re-encoded bodies keep their transfer encodings and 76-character lines.
        Assert.All(Encoding.ASCII.GetString(output).Split("\r\n"), line => Assert.True(line.Length <= 76, line));
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

    [Fact]
    public async Task A_message_without_text_body_gets_a_notice_part()
    {
        byte[] data = MessageBuilder.RandomBytes(9000);
        byte[] input = Mail.Crlf("Subject: scan\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\n" +
            "Content-Type: image/jpeg; name=scan.jpg\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(data, "\n") + "\n--b1--\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        var s = await Mail.ParseAsync(output);
        Assert.Equal(2, s.Root.Children.Count);
        Assert.Equal("text/plain", s.Root.Children[0].MimeType);
        string notice = Encoding.UTF8.GetString(await Mail.ReadAllAsync(s.OpenBody(s.Root.Children[0])));
        Assert.Contains(result.Detached[0].Link, notice, StringComparison.Ordinal);
        Assert.Equal("message/external-body", s.Root.Children[1].MimeType);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    [Fact]
    public async Task A_message_that_is_only_an_attachment_becomes_multipart_mixed()
    {
        byte[] data = MessageBuilder.RandomBytes(9000);
        byte[] input = Mail.Crlf("From: a@example.org\nSubject: doc\nMIME-Version: 1.0\nContent-Type: application/pdf; name=doc.pdf\n" +
            "Content-Disposition: attachment; filename=doc.pdf\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(data, "\n") + "\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Equal("1", sink.Items[0].Descriptor.PartPath);
        var s = await Mail.ParseAsync(output);
        Assert.Equal("multipart/mixed", s.Root.MimeType);
        Assert.Equal("doc", s.Root.FindHeader("Subject")!.Value);
        Assert.Equal(["text/plain", "message/external-body"], s.Root.Children.Select(c => c.MimeType));
        Assert.Single(s.Root.Headers, h => h.Name == "Content-Type");
    }

    [Fact]
    public async Task Signed_messages_are_left_alone_and_say_so()
    {
        byte[] data = MessageBuilder.RandomBytes(9000);
        string inner = MessageBuilder.WithAttachment(data);
        int split = inner.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        byte[] input = Encoding.ASCII.GetBytes(
            "From: a@example.org\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=s1\r\n\r\n" +
            "--s1\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" + inner[(split + 4)..] +
            "\r\n--s1\r\nContent-Type: application/pgp-signature; name=signature.asc\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nxx\r\n-----END PGP SIGNATURE-----\r\n--s1--\r\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Empty(result.Detached);
        Assert.Empty(sink.Items);
        Assert.Equal("signed message", result.SkippedReason);
        Assert.Equal("X-Detach: skipped (signed message)\r\n" + Encoding.ASCII.GetString(input), Encoding.ASCII.GetString(output));
    }

    [Theory]
    [InlineData("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m", "signed or encrypted message")]
    [InlineData("multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e1", "encrypted message")]
    public async Task Encrypted_messages_are_left_alone_and_say_so(string contentType, string reason)
    {
        byte[] input = Mail.Crlf($"Content-Type: {contentType}\nContent-Transfer-Encoding: base64\n\n{MessageBuilder.Base64Lines(MessageBuilder.RandomBytes(9000), "\n")}\n");
        var (output, result, _) = await Mail.RewriteAsync(input, Defaults);
        Assert.Equal(reason, result.SkippedReason);
        Assert.Equal($"X-Detach: skipped ({reason})\r\n" + Encoding.ASCII.GetString(input), Encoding.ASCII.GetString(output));
    }

    [Fact]
    public async Task Images_referenced_by_cid_stay_and_unreferenced_ones_go()
    {
        byte[] logo = MessageBuilder.RandomBytes(9000, 1);
        byte[] photo = MessageBuilder.RandomBytes(9000, 2);
        string html = "<html><body><img src=\"cid:logo%40example.org\"></body></html>";
        byte[] input = Mail.Crlf("Content-Type: multipart/related; boundary=r1\n\n" +
            "--r1\nContent-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n" + html.Replace("=", "=3D", StringComparison.Ordinal) + "\n" +
            "--r1\nContent-Type: image/png; name=logo.png\nContent-ID: <logo@example.org>\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(logo, "\n") + "\n" +
            "--r1\nContent-Type: image/jpeg; name=photo.jpg\nContent-ID: <photo@example.org>\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(photo, "\n") + "\n" +
            "--r1--\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        Assert.Equal("photo.jpg", result.Detached[0].FileName);
        Assert.Equal("photo@example.org", sink.Items[0].Descriptor.ContentId);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));

        var (_, all, _) = await Mail.RewriteAsync(input, new DetachPolicyOptions { KeepCidReferencedImages = false });
        Assert.Equal(2, all.Detached.Count);
    }

    [Fact]
    public async Task Attachments_smaller_than_MinSizeBytes_stay()
    {
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(MessageBuilder.RandomBytes(2000)));
        var (output, result, _) = await Mail.RewriteAsync(input, Defaults);
        Assert.Empty(result.Detached);
        Assert.True(result.Unchanged);
        Assert.Equal(input, output);
    }

    [Fact]
    public async Task Forwarded_message_is_one_eml_by_default_or_descended_into()
    {
        byte[] pdf = MessageBuilder.RandomBytes(9000);
        string forwarded = "Subject: =?utf-8?Q?Quarterly_r=C3=A9sults?=\r\n" + MessageBuilder.WithAttachment(pdf);
        byte[] input = Encoding.ASCII.GetBytes("Subject: Fwd\r\nContent-Type: multipart/mixed; boundary=f1\r\n\r\n--f1\r\nContent-Type: text/plain\r\n\r\nFYI\r\n" +
            "--f1\r\nContent-Type: message/rfc822\r\n\r\n" + forwarded + "\r\n--f1--\r\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        Assert.Equal("Quarterly r\u00E9sults.eml", result.Detached[0].FileName);
        Assert.Equal("message/rfc822", sink.Items[0].Descriptor.ContentType);
        Assert.Equal(Encoding.ASCII.GetBytes(forwarded), sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));

        var (output2, descended, sink2) = await Mail.RewriteAsync(input, new DetachPolicyOptions { DetachForwardedMessages = false });
        Assert.Single(descended.Detached);
        Assert.Equal("report.pdf", descended.Detached[0].FileName);
        Assert.Equal("2.2", sink2.Items[0].Descriptor.PartPath);
        Assert.Equal(pdf, sink2.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(input, output2, sink2));
    }

    [Fact]
    public async Task A_sink_failure_propagates_out_of_the_first_phase()
    {
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(MessageBuilder.RandomBytes(9000)));
        var failure = new IOException("vault unavailable");
        var sink = new RecordingSink { FailWith = failure };
        var rewriter = new MimeRewriter(Defaults, sink);
        var thrown = await Assert.ThrowsAsync<IOException>(() => rewriter.PrepareAsync(new MemoryStream(input), TestContext.Current.CancellationToken));
        Assert.Same(failure, thrown);
    }

    [Fact]
    public async Task Several_attachments_are_stored_in_order_before_any_output()
    {
        byte[] a = MessageBuilder.RandomBytes(9000, 1), b = MessageBuilder.RandomBytes(12000, 2);
        string message = MessageBuilder.WithAttachment(a).Replace("--b1--", "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"b.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + MessageBuilder.Base64Lines(b) + "\r\n--b1--", StringComparison.Ordinal);
        var output = new WatchingStream();
        var sink = new OrderCheckingSink(output);
        var rewriter = new MimeRewriter(Defaults, sink);
        var result = await rewriter.PrepareAsync(new MemoryStream(Encoding.ASCII.GetBytes(message)), TestContext.Current.CancellationToken);
        await result.WriteToAsync(output, TestContext.Current.CancellationToken);
        Assert.Equal(["report.pdf", "b.bin"], result.Detached.Select(d => d.FileName));
        Assert.Equal(2, sink.Calls);
        Assert.StartsWith("X-Detach: 2 attachments, 21.0 kB\r\n", Encoding.ASCII.GetString(output.ToArray()), StringComparison.Ordinal);
    }

    private sealed class WatchingStream : MemoryStream;

    private sealed class OrderCheckingSink(WatchingStream output) : IAttachmentSink
    {
        public int Calls { get; private set; }

        public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
        {
            Assert.Equal(0, output.Length); // nothing written before every sink call is done
            Calls++;
            long size = (await Mail.ReadAllAsync(decodedContent)).Length;
            return new DetachedAttachment(attachment.FileName, attachment.ContentType, size, $"https://vault.example.org/d/{Calls}#k", null);
        }
    }

    [Fact]
    public async Task An_mbox_content_length_header_is_dropped_when_the_size_changes()
    {
        byte[] data = MessageBuilder.RandomBytes(9000);
        string message = MessageBuilder.WithAttachment(data);
        byte[] input = Encoding.ASCII.GetBytes("Content-Length: " + (message.Length - 100) + "\r\n" + message);
        var (output, result, sink) = await Mail.RewriteAsync(input, Defaults);
        Assert.Single(result.Detached);
        string text = Encoding.ASCII.GetString(output);
        Assert.DoesNotContain("Content-Length", text, StringComparison.Ordinal);
        Assert.StartsWith("X-Detach: 1 attachment, 9.0 kB\r\nFrom: Alice", text, StringComparison.Ordinal);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }
}

public class SevenBitUpgradeTests
{
    [Fact]
    public async Task A_7bit_body_becomes_utf8_quoted_printable_when_names_are_not_ascii()
    {
        byte[] data = MessageBuilder.RandomBytes(9000);
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(data,
            "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''Pr%C3%BCfbericht%20%E7%AE%A1.pdf",
            text: "Hello = world,\nthe report.\n"));
        var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions());
        Assert.Single(result.Detached);
        Assert.All(output, b => Assert.True(b < 128));
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
        var s = await Mail.ParseAsync(output);
        var text = s.Root.Children[0];
        Assert.Equal(TransferEncoding.QuotedPrintable, text.TransferEncoding);
        Assert.Equal("utf-8", text.ContentType.Parameters["charset"]);
        string decoded = Encoding.UTF8.GetString(await Mail.ReadAllAsync(s.OpenBody(text)));
        Assert.StartsWith("Hello = world,\r\nthe report.\r\n\r\n-- \r\n", decoded, StringComparison.Ordinal);
        Assert.Contains("* Pr\u00FCfbericht \u7BA1.pdf\r\n  9.0 kB, available until", decoded, StringComparison.Ordinal);
    }
}
