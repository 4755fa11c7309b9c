using System.Text;
using System.Text.Json;

namespace Detach.Mime.Tests;

/// <summary>
/// Independent oracle: each attachment our sink receives is compared (SHA-256 of the decoded bytes) with what
/// Python's standard email package decodes for the part at the same IMAP-style path
/// (Oracle/python_email_oracle.py). The policy runs with MinSizeBytes = 0 so that every attachment is compared.
/// </summary>
public class OracleTests
{
    /// <summary>
    /// Every known disagreement, keyed "corpus-relative-file#part-path", with the reason. The test fails on a
    /// disagreement missing here and on an entry here that no longer disagrees.
    /// </summary>
    private static readonly Dictionary<string, string> KnownDifferences = new(StringComparer.Ordinal)
    {
        // A multipart/alternative reuses its parent's boundary (RFC 2046 forbids it). We give the innermost
        // multipart the delimiter until its close delimiter, then the parent (MimeKit does the same), so part 2
        // is the image/gif; Python's feedparser splits it differently and calls part 2 text/plain. The "base64"
        // body is placeholder prose anyway.
        ["cpython/msg_15.txt#2"] = "nested multipart reusing its parent's boundary",
        // A UTF-8 byte-order mark before the first header. We skip it (as MimeKit and Outlook do); Python reads
        // the BOM line as the start of the body, so it sees no headers and no MIME structure at all.
        ["mime-tools/testmsgs/utf8-bom-at-start.msg#2"] = "BOM before the headers",
        // Truncated base64 whose length is 1 modulo 4. Python's decode_b gives up and returns the undecoded text;
        // we decode every complete quantum and drop the dangling character (as MimeKit does).
        ["php-mime-mail-parser/m0018#2"] = "truncated base64 (length 1 mod 4)",
        ["rspamd/fname.eml#1"] = "truncated base64 (length 1 mod 4)",
        ["rspamd/fname.eml#2"] = "truncated base64 (length 1 mod 4)",
    };

    [Fact]
    public async Task Decoded_attachments_match_python_email()
    {
        var messages = TestCorpus.Messages;
        var oracle = await RunOracleAsync(messages.Select(m => m.FullPath).ToList());

        var disagreements = new Dictionary<string, string>(StringComparer.Ordinal);
        int compared = 0, matched = 0, renumbered = 0, messageParts = 0, pythonOnly = 0;
        var comparedPerSet = TestCorpus.Sets.ToDictionary(s => s, _ => 0);
        var pythonOnlySamples = new List<string>();
        foreach (var message in messages)
        {
            string rel = message.RelativePath;
            string file = message.FullPath;
            byte[] input = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
            var (_, _, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions { MinSizeBytes = 0 }, sink: new RecordingSink());
            var python = oracle.GetValueOrDefault(file) ?? [];
            var pythonByPath = new Dictionary<string, OraclePart>();
            foreach (var p in python)
            {
                pythonByPath.TryAdd(p.Path, p);
            }

            var ours = new HashSet<string>();
            foreach (var item in sink.Items)
            {
                string key = rel + "#" + item.Descriptor.PartPath;
                ours.Add(item.Descriptor.PartPath);
                if (item.Descriptor.ContentType.StartsWith("message/", StringComparison.Ordinal))
                {
                    // We store a forwarded message's raw bytes as a .eml; Python's get_payload(decode=True) gives
                    // None for message/* parts, so there is nothing to compare.
                    messageParts++;
                    continue;
                }
                compared++;
                comparedPerSet[message.Set]++;
                if (!pythonByPath.TryGetValue(item.Descriptor.PartPath, out var p) || p.Sha256 != item.Sha256)
                {
                    // Parts can be numbered differently (Python drops the empty part between two doubled
                    // delimiters, we keep it): match on file name and type when that is unambiguous.
                    var byName = python.Where(x => (x.Type == item.Descriptor.ContentType || x.Path.Contains(":uu", StringComparison.Ordinal)) && x.Filename is not null
                        && FileNames.Sanitize(x.Filename, x.Type) == item.Descriptor.FileName).ToList();
                    if (byName.Count == 1 && byName[0].Sha256 == item.Sha256)
                    {
                        renumbered++;
                        matched++;
                        continue;
                    }
                    disagreements[key] = p is null ? "Python has no part at this path"
                        : p.Sha256 is null ? $"Python decoded nothing ({p.Error ?? "no bytes"})"
                        : $"SHA-256 differs: ours {item.Size} bytes, Python {p.Size} bytes (Python's type {p.Type}, ours {item.Descriptor.ContentType})";
                    continue;
                }
                matched++;
            }
            foreach (var p in python)
            {
                if (p.Path.Contains(":uu", StringComparison.Ordinal) && !ours.Contains(p.Path))
                {
                    disagreements[rel + "#" + p.Path] = "Python finds a uuencoded block that we do not detach";
                }
                bool pythonAttachment = (p.Disposition == "attachment" || (p.Filename is not null && p.Disposition is null)) && !p.Path.Contains(":uu", StringComparison.Ordinal);
                if (pythonAttachment && !ours.Contains(p.Path))
                {
                    pythonOnly++;
                    if (pythonOnlySamples.Count < 60)
                    {
                        pythonOnlySamples.Add($"{rel}#{p.Path} {p.Type} {p.Filename}");
                    }
                }
            }
        }

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"oracle: per set {string.Join(", ", comparedPerSet.Select(kv => $"{kv.Key}: {kv.Value}"))}");
        output?.WriteLine($"oracle: {compared} decoded attachments compared, {matched} identical ({renumbered} matched by name after different part numbering), {disagreements.Count} disagreements, {messageParts} message/* parts not comparable");
        output?.WriteLine($"oracle: {pythonOnly} parts Python calls attachments that the policy keeps (text bodies, alternatives, signatures, cid images...):");
        foreach (var s in pythonOnlySamples)
        {
            output?.WriteLine("  " + s);
        }

        foreach (var (key, why) in disagreements)
        {
            output?.WriteLine($"disagreement {key}: {why}");
        }

        Mail.AssertOnlyKnownDifferences("Python's email package", disagreements, KnownDifferences, messages);
        foreach (var (set, count) in comparedPerSet)
        {
            // Measured: 428 in the repository's set, 61 among the shared extras.
            int expected = TestCorpus.PerSet(set, 400, 50);
            Assert.True(count >= expected, $"{set}: only {count} attachments compared, expected at least {expected}");
        }
    }

    private sealed record OraclePart(string Path, string Type, string? Filename, string? Disposition, string? Sha256, long? Size, string? Error);

    private static async Task<Dictionary<string, List<OraclePart>>> RunOracleAsync(List<string> files)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "Oracle", "python_email_oracle.py");
        var oracle = await ChildProcess.RunAsync(
            InstalledPrograms.Require("python3", "python3"),
            [script],
            TimeSpan.FromMinutes(10),
            TestContext.Current.CancellationToken,
            standardInput: Encoding.UTF8.GetBytes(string.Concat(files.Select(f => f + "\n"))));
        Assert.True(oracle.Succeeded, "oracle failed: " + oracle.StandardError);
        var result = new Dictionary<string, List<OraclePart>>(StringComparer.Ordinal);
        foreach (var line in oracle.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var parts = new List<OraclePart>();
            foreach (var p in doc.RootElement.GetProperty("parts").EnumerateArray())
            {
                parts.Add(new OraclePart(
                    p.GetProperty("path").GetString()!,
                    p.GetProperty("type").GetString()!,
                    p.GetProperty("filename").ValueKind == JsonValueKind.String ? p.GetProperty("filename").GetString() : null,
                    p.GetProperty("disposition").ValueKind == JsonValueKind.String ? p.GetProperty("disposition").GetString() : null,
                    p.GetProperty("sha256").ValueKind == JsonValueKind.String ? p.GetProperty("sha256").GetString() : null,
                    p.GetProperty("size").ValueKind == JsonValueKind.Number ? p.GetProperty("size").GetInt64() : null,
                    p.TryGetProperty("error", out var e) ? e.GetString() : null));
            }
            result[doc.RootElement.GetProperty("file").GetString()!] = parts;
        }
        return result;
    }
}
