using System.Text;

namespace Detach.Mime.Tests;

/// <summary>Hard cases of structure, each with a small handcrafted message.</summary>
public class StructureTests
{
    [Fact]
    public async Task Missing_inner_close_delimiter_is_recovered_at_the_parent_boundary()
    {
        byte[] data = MessageBuilder.RandomBytes(6000);
        byte[] input = Mail.Crlf(
            "Content-Type: multipart/mixed; boundary=outer\n\n" +
            "--outer\n" +
            "Content-Type: multipart/alternative; boundary=inner\n\n" +
            "--inner\nContent-Type: text/plain\n\nplain\n" +
            "--inner\nContent-Type: text/html\n\n<p>html</p>\n" +
            // no --inner-- here
            "--outer\n" +
            "Content-Type: application/octet-stream; name=data.bin\nContent-Transfer-Encoding: base64\n\n" +
            MessageBuilder.Base64Lines(data, "\n") + "\n" +
            "--outer--\n");
        var s = await Mail.ParseAsync(input);
        var root = s.Root;
        Assert.Equal(2, root.Children.Count);
        Assert.False(root.Children[0].IsClosed);
        Assert.Equal(2, root.Children[0].Children.Count);
        Assert.Equal("<p>html</p>", Encoding.ASCII.GetString(await Mail.ReadAllAsync(s.OpenBody(root.Children[0].Children[1]))));
        Assert.Equal(data, await Mail.ReadAllAsync(s.OpenBody(root.Children[1])));

        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    [Fact]
    public async Task Missing_final_delimiter_runs_to_the_end_of_input()
    {
        byte[] data = MessageBuilder.RandomBytes(5000);
        string message = MessageBuilder.WithAttachment(data).Replace("--b1--\r\nepilogue\r\n", "", StringComparison.Ordinal);
        var (output, result, sink) = await Mail.RewriteAsync(Encoding.ASCII.GetBytes(message));
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(Encoding.ASCII.GetBytes(message), output, sink));
    }

    [Theory]
    [InlineData(150)]
    [InlineData(20_000)]
    public async Task Deep_nesting_becomes_a_leaf_without_recursion(int levels)
    {
        var sb = new StringBuilder("Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
        for (int i = 1; i <= levels; i++)
        {
            sb.Append("--b").Append(i - 1).Append("\r\nContent-Type: multipart/mixed; boundary=\"b").Append(i).Append("\"\r\n\r\n");
        }

        sb.Append("--b").Append(levels).Append("\r\nContent-Type: application/pdf; name=deep.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
          .Append(MessageBuilder.Base64Lines(MessageBuilder.RandomBytes(6000))).Append("\r\n");
        for (int i = levels; i >= 0; i--)
        {
            sb.Append("--b").Append(i).Append("--\r\n");
        }

        byte[] input = Encoding.ASCII.GetBytes(sb.ToString());

        var s = await Mail.ParseAsync(input);
        int depth = s.Root.DescendantsAndSelf().Max(e => e.Depth);
        Assert.Equal(100, depth); // MaxDepth: the 100th level is a leaf holding the rest as opaque bytes
        var (output, result, _) = await Mail.RewriteAsync(input);
        Assert.Empty(result.Detached);
        Mail.AssertPassedThroughPastLimit(input, output, "nesting deeper than 100 levels");
    }

    [Fact]
    public async Task Lf_only_message_gets_lf_only_additions()
    {
        byte[] data = MessageBuilder.RandomBytes(8000);
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(data, eol: "\n"));
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.DoesNotContain((byte)'\r', output);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
        string text = Encoding.ASCII.GetString(output);
        Assert.StartsWith("X-Detach: 1 attachment, 8.0 kB\nFrom: Alice", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mixed_line_endings_are_parsed_and_kept()
    {
        byte[] data = MessageBuilder.RandomBytes(5000);
        string message = MessageBuilder.WithAttachment(data, eol: "\r\n");
        // Make the text part LF-only while the rest stays CRLF.
        message = message.Replace("Hello,\r\nplease find the report attached.\r\n", "Hello,\nplease find the report attached.\n", StringComparison.Ordinal);
        byte[] input = Encoding.ASCII.GetBytes(message);
        var (output, _, sink) = await Mail.RewriteAsync(input);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
    }

    [Fact]
    public async Task Bom_and_mbox_from_line_stay_first_and_the_trace_header_follows()
    {
        byte[] data = MessageBuilder.RandomBytes(5000);
        byte[] body = Encoding.ASCII.GetBytes("From alice@example.org Mon Nov 23 07:00:00 2026\r\n" + MessageBuilder.WithAttachment(data));
        byte[] input = [0xEF, 0xBB, 0xBF, .. body];
        var s = await Mail.ParseAsync(input);
        Assert.Equal("multipart/mixed", s.Root.MimeType);
        Assert.Equal("From", s.Root.Headers[0].Name);
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        string text = Encoding.UTF8.GetString(output);
        Assert.StartsWith("\uFEFFFrom alice@example.org Mon Nov 23 07:00:00 2026\r\nX-Detach: 1 attachment", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Boundary_longer_than_70_characters_works()
    {
        string boundary = new string('=', 10) + new string('x', 300) + "_end";
        byte[] data = MessageBuilder.RandomBytes(5000);
        string message = MessageBuilder.WithAttachment(data).Replace("boundary=\"b1\"", $"boundary=\"{boundary}\"", StringComparison.Ordinal)
            .Replace("--b1", "--" + boundary, StringComparison.Ordinal);
        var (output, result, sink) = await Mail.RewriteAsync(Encoding.ASCII.GetBytes(message));
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(Encoding.ASCII.GetBytes(message), output, sink));
    }

    [Fact]
    public async Task A_line_of_1000_bytes_or_more_is_never_a_delimiter()
    {
        // "--b1" followed by 1000 blanks would match with trailing whitespace allowed, but it is too long to be a delimiter.
        byte[] input = Mail.Crlf(
            "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nbefore\n--b1" + new string(' ', 1000) + "\nafter\n--b1--\n");
        var s = await Mail.ParseAsync(input);
        Assert.Single(s.Root.Children);
        string body = Encoding.ASCII.GetString(await Mail.ReadAllAsync(s.OpenBody(s.Root.Children[0])));
        Assert.StartsWith("before\r\n--b1   ", body, StringComparison.Ordinal);
        Assert.EndsWith("after", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task X_uuencode_attachment_is_decoded()
    {
        byte[] data = MessageBuilder.RandomBytes(6000, 3);
        byte[] input = Mail.Crlf(
            "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nsee attached\n" +
            "--b1\nContent-Type: application/octet-stream; name=blob.bin\nContent-Transfer-Encoding: x-uuencode\n\n" +
            "begin 644 blob.bin\n" + DecoderTests.UUEncode(data).Replace("\r\n", "\n", StringComparison.Ordinal) + "`\nend\n" +
            "--b1--\n");
        var (_, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Equal(data, sink.Items[0].Content);
        Assert.Equal("blob.bin", sink.Items[0].Descriptor.FileName);
    }

    [Fact]
    public async Task Quoted_printable_attachment_with_soft_breaks_is_decoded()
    {
        string csv = string.Join("\r\n", Enumerable.Range(0, 200).Select(i => $"row {i};caf\u00E9;{new string('v', 90)}")) + "\r\n";
        byte[] encoded = QuotedPrintableBodyEncoder.EncodeAll(Encoding.UTF8.GetBytes(csv), "\r\n");
        Assert.Contains("=\r\n", Encoding.ASCII.GetString(encoded), StringComparison.Ordinal);
        byte[] input = [.. Mail.Crlf("Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nhi\n--b1\n" +
            "Content-Type: text/csv; charset=utf-8\nContent-Disposition: attachment; filename=table.csv\nContent-Transfer-Encoding: quoted-printable\n\n"),
            .. encoded, .. Mail.Crlf("\n--b1--\n")];
        var (_, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Equal(csv, Encoding.UTF8.GetString(sink.Items[0].Content!));
    }

    [Fact]
    public async Task Base64_with_whitespace_and_garbage_is_decoded_leniently()
    {
        byte[] data = MessageBuilder.RandomBytes(4500, 9);
        string lines = MessageBuilder.Base64Lines(data, "\n");
        string messy = string.Join("\n", lines.Split('\n').Select((l, i) => i % 3 == 0 ? " " + l[..10] + "\t" + l[10..] + "  " : i % 3 == 1 ? l + "!*" : l));
        byte[] input = Mail.Crlf("Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nhi\n--b1\n" +
            "Content-Type: image/png\nContent-Disposition: attachment; filename=pic.png\nContent-Transfer-Encoding: BASE64\n\n" + messy + "\n--b1--\n");
        var (_, _, sink) = await Mail.RewriteAsync(input);
        Assert.Equal(data, sink.Items[0].Content);
    }

    [Fact]
    public async Task Nul_bytes_pass_through_and_binary_parts_decode_raw()
    {
        byte[] binary = MessageBuilder.RandomBytes(5000, 4);
        binary[0] = 0;
        binary[100] = 0;
        // A binary part may hold "\n--b1" only by accident; keep the sample free of it.
        for (int i = 0; i < binary.Length - 1; i++)
        {
            if (binary[i] == '\n')
            {
                binary[i] = 0;
            }
        }

        byte[] input = [.. Mail.Crlf("Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\nX-Odd: a\0b\n\nnul \0 in text\n--b1\n" +
            "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=raw.bin\nContent-Transfer-Encoding: binary\n\n"),
            .. binary, .. Mail.Crlf("\n--b1--\n")];
        var (output, result, sink) = await Mail.RewriteAsync(input);
        Assert.Single(result.Detached);
        Assert.Equal(binary, sink.Items[0].Content);
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
        var keep = await Mail.RewriteAsync(input, new DetachPolicyOptions { MinSizeBytes = 1_000_000 });
        Assert.Equal(input, keep.Output);
    }

    [Fact]
    public async Task Header_folded_over_thousands_of_lines_makes_the_part_opaque_but_never_loses_it()
    {
        var sb = new StringBuilder("To: a@example.org");
        for (int i = 0; i < 5000; i++)
        {
            sb.Append(",\r\n =?utf-8?B?w6k=?= <user").Append(i).Append("@example.org>");
        }

        byte[] data = MessageBuilder.RandomBytes(8000);
        string message = sb + "\r\n" + MessageBuilder.WithAttachment(data);
        byte[] input = Encoding.ASCII.GetBytes(message);
        var s = await Mail.ParseAsync(input);
        Assert.True(s.Root.IsOpaque);
        var (output, result, _) = await Mail.RewriteAsync(input);
        Assert.Empty(result.Detached);
        Mail.AssertPassedThroughPastLimit(input, output, "a header field over 64 KiB");

        // Within generous limits the same message is understood.
        var roomy = new MimeParserOptions { MaxHeaderFieldBytes = 1 << 20, MaxHeaderBlockBytes = 1 << 21 };
        var parsed = await Mail.ParseAsync(input, roomy);
        Assert.False(parsed.Root.IsOpaque);
        Assert.Equal(2, parsed.Root.Children.Count);
    }

    [Fact]
    public async Task Headers_cut_short_by_a_delimiter_and_parts_without_headers()
    {
        byte[] input = Mail.Crlf("Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n--b1\n\nno headers here\n--b1--\n");
        var s = await Mail.ParseAsync(input);
        Assert.Equal(2, s.Root.Children.Count);
        Assert.Equal(0, s.Root.Children[0].BodyLength);
        Assert.Equal("no headers here", Encoding.ASCII.GetString(await Mail.ReadAllAsync(s.OpenBody(s.Root.Children[1]))));
    }

    [Fact]
    public async Task Multipart_without_boundary_is_a_leaf()
    {
        byte[] input = Mail.Crlf("Content-Type: multipart/mixed\n\n--x\nContent-Type: application/pdf; name=a.pdf\n\nxx\n--x--\n");
        var s = await Mail.ParseAsync(input);
        Assert.False(s.Root.IsMultipart);
        var (output, result, _) = await Mail.RewriteAsync(input);
        Assert.Empty(result.Detached);
        Assert.Equal(input, output);
    }

    [Fact]
    public async Task Reads_of_one_to_seven_bytes_give_identical_output()
    {
        byte[] data = MessageBuilder.RandomBytes(20_000, 11);
        byte[] input = Encoding.ASCII.GetBytes(MessageBuilder.WithAttachment(data));
        var whole = await Mail.RewriteAsync(input);
        for (int seed = 0; seed < 5; seed++)
        {
            int s = seed;
            var trickled = await Mail.RewriteAsync(input, wrap: m => new TricklingStream(m, s), sink: new RecordingSink { KeepContent = true, ReadSize = 3 });
            Assert.Equal(whole.Output, trickled.Output);
            Assert.Equal(data, trickled.Sink.Items[0].Content);
        }
    }
}

public class UUBlockTests
{
    [Fact]
    public async Task Uuencoded_files_in_a_text_body_are_detached_and_prose_is_not()
    {
        byte[] data = MessageBuilder.RandomBytes(6000, 5);
        string text = "Hi,\n\nbegin by reading this, then the file:\n\nbegin 644 data.zip\n" +
            DecoderTests.UUEncode(data).Replace("\r\n", "\n", StringComparison.Ordinal) + "`\nend\n\nbegin 644 fake.txt\nthis is not uuencode\nend\nBye\n";
        byte[] input = Mail.Crlf("Subject: uu\nContent-Type: text/plain; charset=us-ascii\n\n" + text);
        var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions());
        Assert.Single(result.Detached);
        Assert.Equal("data.zip", result.Detached[0].FileName);
        Assert.Equal("application/zip", sink.Items[0].Descriptor.ContentType);
        Assert.Equal("1:uu1", sink.Items[0].Descriptor.PartPath);
        Assert.Equal(data, sink.Items[0].Content);
        string rewritten = Encoding.ASCII.GetString(output);
        Assert.Contains("begin by reading this, then the file:\r\n\r\n[data.zip (6.0 kB) was removed: <https://vault.example.org/d/", rewritten, StringComparison.Ordinal);
        Assert.Contains(">]\r\n\r\nbegin 644 fake.txt\r\nthis is not uuencode\r\nend\r\nBye\r\n", rewritten, StringComparison.Ordinal);
        Assert.DoesNotContain("begin 644 data.zip", rewritten, StringComparison.Ordinal);
        Assert.Contains("\r\n* data.zip\r\n  6.0 kB, available until 2026-12-24 10:00 UTC\r\n  <https://vault.example.org/d/", rewritten, StringComparison.Ordinal);
        Assert.EndsWith(">\r\n", rewritten, StringComparison.Ordinal);
    }
}

public class UUBlockScannerTests
{
    /// <summary>
    /// Exact offsets, whatever the reads: whole, or 1..7 bytes at a time, so lines split across reads (and a
    /// line longer than the scanner looks at) are handled. A block ending the body without a line break counts.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Blocks_are_found_at_exact_offsets_however_the_body_is_read(int seed)
    {
        string first = "begin 644 one.bin\r\n" + DecoderTests.UUEncode(MessageBuilder.RandomBytes(500, 1)) + "`\r\nend\r\n";
        string second = "begin 600 two.bin\n" + DecoderTests.UUEncode(MessageBuilder.RandomBytes(90, 2)).Replace("\r\n", "\n", StringComparison.Ordinal) + "end";
        string body = "prose\r\n" + new string('x', 300) + "\r\nbegin 644 not-a-file.txt\r\n" + new string('y', 250) + "\r\n" +
            first + "middle\n" + second;
        int firstStart = body.IndexOf(first, StringComparison.Ordinal);
        int secondStart = body.IndexOf(second, StringComparison.Ordinal);
        byte[] bytes = Encoding.ASCII.GetBytes(body);

        Stream input = new MemoryStream(bytes);
        if (seed > 0)
        {
            input = new TricklingStream(input, seed);
        }

        List<UUBlock> blocks = await UUBlockScanner.FindAsync(input, TestContext.Current.CancellationToken);

        Assert.Equal(
            [new UUBlock(firstStart, firstStart + first.Length, "one.bin", true), new UUBlock(secondStart, bytes.Length, "two.bin", false)],
            blocks);
    }
}

public class PartLimitTests
{
    [Fact]
    public async Task Past_MaxParts_the_message_passes_through_under_a_trace_line()
    {
        var sb = new StringBuilder("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for (int i = 0; i < 50; i++)
        {
            sb.Append("--b\r\nContent-Type: application/pdf; name=a").Append(i).Append(".pdf\r\n\r\n").Append(new string('x', 100)).Append("\r\n");
        }

        sb.Append("--b--\r\n");
        byte[] input = Encoding.ASCII.GetBytes(sb.ToString());
        var s = await Mail.ParseAsync(input, new MimeParserOptions { MaxParts = 10 });
        Assert.True(s.Root.IsOpaque);
        Assert.True(s.Root.Children.Count < 10);

        var (output, result, _) = await Mail.RewriteAsync(input, options: new MimeRewriterOptions { Parser = new MimeParserOptions { MaxParts = 10 } });
        Assert.Empty(result.Detached);
        Mail.AssertPassedThroughPastLimit(input, output, "more than 10 parts");
        var (_, all, _) = await Mail.RewriteAsync(input);
        Assert.Equal(50, all.Detached.Count);
    }
}

public class ReaderEventTests
{
    [Fact]
    public async Task The_reader_reports_headers_delimiters_and_ends_in_document_order()
    {
        byte[] input = Mail.Crlf("Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\n--b--\nepilogue\n");
        var reader = new MimeStreamReader(new MemoryStream(input));
        var log = new List<string>();
        reader.HeadersRead += e => log.Add("headers " + (e.Path.Length == 0 ? "root" : e.Path));
        reader.DelimiterRead += (m, offset, close) => log.Add($"{(close ? "close" : "delimiter")} at {offset}");
        reader.EntityEnded += e => log.Add($"end {(e.Path.Length == 0 ? "root" : e.Path)} at {e.End}");
        await reader.ReadAsync(TestContext.Current.CancellationToken);
        string text = Encoding.ASCII.GetString(input);
        int d1 = text.IndexOf("--b\r\n", StringComparison.Ordinal), d2 = text.IndexOf("--b\r\n", d1 + 1, StringComparison.Ordinal), d3 = text.IndexOf("--b--", StringComparison.Ordinal);
        Assert.Equal(
            ["headers root", $"delimiter at {d1}", "headers 1", $"end 1 at {d2 - 2}", $"delimiter at {d2}", "headers 2", $"end 2 at {d3 - 2}", $"close at {d3}", $"end root at {input.Length}"],
            log);
    }
}

public class UUBlockWithNonAsciiNamesTests
{
    [Fact]
    public async Task A_7bit_body_with_uuencoded_blocks_keeps_its_encoding_and_gets_an_ascii_notice()
    {
        byte[] data = MessageBuilder.RandomBytes(6000, 5);
        string body = "See below.\n\nbegin 644 data.zip\n" + DecoderTests.UUEncode(data).Replace("\r\n", "\n", StringComparison.Ordinal) + "`\nend\n";
        byte[] input = Mail.Crlf("Subject: uu\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\n" + body +
            "--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9.pdf\nContent-Transfer-Encoding: base64\n\n" +
            MessageBuilder.Base64Lines(MessageBuilder.RandomBytes(9000), "\n") + "\n--b1--\n");
        var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions());
        Assert.Equal(2, result.Detached.Count);
        Assert.All(output, b => Assert.True(b < 128));
        Assert.Empty(await TreeComparison.CompareAsync(input, output, sink));
        Assert.Contains("* ete.pdf\r\n  9.0 kB, available until", Encoding.ASCII.GetString(output), StringComparison.Ordinal); // accents folded, not "?"
    }
}
