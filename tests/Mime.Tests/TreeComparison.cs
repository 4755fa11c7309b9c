namespace Detach.Mime.Tests;

/// <summary>Checks that a rewritten message is the original tree with each detached part replaced by one external-body part.</summary>
internal static class TreeComparison
{
    public static async Task<List<string>> CompareAsync(byte[] input, byte[] output, RecordingSink sink)
    {
        var problems = new List<string>();
        var before = await Mail.ParseAsync(input);
        var after = await Mail.ParseAsync(output);
        var detachedPaths = sink.Items.Select(i => i.Descriptor.PartPath).ToHashSet();
        var stack = new Stack<(MimeEntity A, MimeEntity B)>();
        stack.Push((before.Root, after.Root));
        bool rootReplaced = detachedPaths.Contains("1") && !before.Root.IsMultipart && before.Root.Message is null ? true : detachedPaths.Contains("1") && before.Root.Path.Length == 0 && sink.Items.Any(i => i.Descriptor.PartPath == "1" && !before.Root.IsMultipart);
        if (rootReplaced)
        {
            // The whole message was the attachment: it became multipart/mixed [notice, external-body].
            if (after.Root.MimeType != "multipart/mixed" || after.Root.Children.Count != 2 || after.Root.Children[1].MimeType != "message/external-body")
            {
                problems.Add("root attachment not replaced by multipart/mixed [notice, external-body]");
            }

            return problems;
        }
        int replaced = 0;
        while (stack.Count > 0)
        {
            var (a, b) = stack.Pop();
            string where = a.Path.Length == 0 ? "(message)" : a.Path;
            if (a.Path.Length > 0 && detachedPaths.Contains(a.Path))
            {
                replaced++;
                if (b.MimeType != "message/external-body")
                {
                    problems.Add($"{where}: detached part became {b.MimeType}");
                }
                else if (!b.ContentType.Parameters["URL"]!.StartsWith("https://vault.example.org/d/", StringComparison.Ordinal))
                {
                    problems.Add($"{where}: external-body without our URL");
                }

                continue;
            }
            if (a.MimeType != b.MimeType) { problems.Add($"{where}: type {a.MimeType} became {b.MimeType}"); continue; }
            var headersA = a.Headers.Select(h => Convert.ToHexString(h.Raw.Span)).ToList();
            var headersB = b.Headers.Select(h => Convert.ToHexString(h.Raw.Span)).ToList();
            if (a.Parent is null && b.Headers.Count > 0 && b.Headers[0].Name == "X-Detach")
            {
                headersB.RemoveAt(0);
                // The rewriter drops an mbox Content-Length that the rewrite made untrue.
                headersA = a.Headers.Where(h => !h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => Convert.ToHexString(h.Raw.Span)).ToList();
            }
            if (!headersA.SequenceEqual(headersB) && !UpgradedToUtf8(a, b))
            {
                problems.Add($"{where}: header fields differ");
            }

            int extra = 0;
            if (a.IsMultipart)
            {
                // One text/plain notice part may have been put first.
                if (b.Children.Count == a.Children.Count + 1 && b.Children[0].FindHeader("Content-Disposition")?.Value == "inline"
                    && b.Children[0].MimeType == "text/plain" && a.Parent is null)
                {
                    extra = 1;
                }

                if (b.Children.Count != a.Children.Count + extra) { problems.Add($"{where}: {a.Children.Count} children became {b.Children.Count}"); continue; }
                for (int i = a.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push((a.Children[i], b.Children[i + extra]));
                }
            }
            else if (a.Message is not null)
            {
                if (b.Message is null)
                {
                    problems.Add($"{where}: encapsulated message lost");
                }
                else
                {
                    stack.Push((a.Message, b.Message));
                }
            }
            else
            {
                byte[] rawA = await Mail.ReadAllAsync(before.OpenRawBody(a));
                byte[] rawB = await Mail.ReadAllAsync(after.OpenRawBody(b));
                if (rawA.AsSpan().SequenceEqual(rawB))
                {
                    continue;
                }

                string bodyPath = a.Path.Length == 0 ? "1" : a.Path;
                var uuBlocks = sink.Items.Where(i => i.Descriptor.PartPath.StartsWith(bodyPath + ":uu", StringComparison.Ordinal)).ToList();
                if (uuBlocks.Count > 0)
                {
                    // uuencoded files were cut out of this text: each became a line with its link.
                    replaced += uuBlocks.Count;
                    string oldText = System.Text.Encoding.Latin1.GetString(rawA);
                    string newText = System.Text.Encoding.Latin1.GetString(rawB);
                    // Names are sanitised in descriptors, so count every begin line.
                    int linesBefore = BeginLines(oldText), linesAfter = BeginLines(newText);
                    if (linesBefore - linesAfter != uuBlocks.Count)
                    {
                        problems.Add($"{where}: {uuBlocks.Count} uuencoded blocks detached but {linesBefore - linesAfter} begin lines gone");
                    }

                    if (!newText.Contains("https://vault.example.org/d/", StringComparison.Ordinal))
                    {
                        problems.Add($"{where}: uuencoded block replaced without link");
                    }

                    continue;
                }
                // Text bodies carry the notice: the decoded original must be there around one inserted block.
                if (a.MimeType is "text/plain" or "text/html")
                {
                    byte[] decA = await Mail.ReadAllAsync(before.OpenBody(a));
                    byte[] decB = await Mail.ReadAllAsync(after.OpenBody(b));
                    int prefix = CommonPrefix(decA, decB);
                    int suffix = CommonSuffix(decA.AsSpan(prefix), decB.AsSpan(prefix));
                    if (prefix + suffix != decA.Length)
                    {
                        problems.Add($"{where}: text body changed beyond the inserted notice (prefix {prefix}, suffix {suffix}, length {decA.Length})");
                    }

                    string inserted = System.Text.Encoding.Latin1.GetString(decB, prefix, decB.Length - prefix - suffix);
                    if (!inserted.Contains("https://vault.example.org/d/", StringComparison.Ordinal))
                    {
                        problems.Add($"{where}: notice without link");
                    }
                }
                else
                {
                    problems.Add($"{where}: body bytes differ");
                }
            }
        }
        if (replaced != sink.Items.Count)
        {
            problems.Add($"{sink.Items.Count} stored but {replaced} replaced");
        }

        return problems;
    }

    private static int BeginLines(string text) =>
        text.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, "^begin [0-7]{3,4} "));

    /// <summary>A 7bit text/plain body that had to carry non-ASCII names became UTF-8 quoted-printable; nothing else changed.</summary>
    private static bool UpgradedToUtf8(MimeEntity a, MimeEntity b)
    {
        // ASCII text relabelled UTF-8 for a notice its charset cannot spell: the encoding stays, or 7bit becomes quoted-printable.
        if (a.MimeType != "text/plain" || b.ContentType.Parameters["charset"] != "utf-8")
        {
            return false;
        }

        bool sevenBitToQuotedPrintable = a.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit && b.TransferEncoding == TransferEncoding.QuotedPrintable;
        if (b.TransferEncoding != a.TransferEncoding && !sevenBitToQuotedPrintable)
        {
            return false;
        }

        static List<string> Others(MimeEntity e) => e.Headers
            .Where(h => !h.Name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !h.Name.Equals("Content-Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Name != "X-Detach"
                && !h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(h => Convert.ToHexString(h.Raw.Span)).ToList();
        return Others(a).SequenceEqual(Others(b));
    }

    private static int CommonPrefix(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a.CommonPrefixLength(b);

    private static int CommonSuffix(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[a.Length - 1 - n] == b[b.Length - 1 - n])
        {
            n++;
        }

        return n;
    }
}
