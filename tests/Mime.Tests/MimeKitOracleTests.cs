using System.Security.Cryptography;
using Detach.Tests.Support;
using Kit = MimeKit;

namespace Detach.Mime.Tests;

/// <summary>
/// Second, in-process oracle: for every corpus message, each attachment our sink receives (MinSizeBytes = 0, so every
/// one) is compared with what MimeKit's own parser extracts at the same IMAP-style path: file name (both sanitised
/// the same way), media type and SHA-256 of the decoded bytes. Forwarded messages (stored raw as .eml) and
/// uuencoded blocks inside text bodies (MimeKit does not extract those) are counted, not compared.
/// </summary>
public class MimeKitOracleTests
{
    // MimeKit maps charset names to code pages on first use: make the legacy code pages known before that.
    static MimeKitOracleTests() => Charsets.RegisterCodePages();

    /// <summary>
    /// Every known disagreement, keyed "corpus-relative-file#part-path", with the reason. The test fails on a
    /// disagreement missing here and on an entry here that no longer disagrees: the list may only shrink.
    /// </summary>
    private static readonly Dictionary<string, string> KnownDifferences = new(StringComparer.Ordinal)
    {
        // Base64 cut short: the last quantum has 2 or 3 characters. We decode them into their 1 or 2 bytes, as Python's
        // binascii does (the Python oracle agrees with us); MimeKit's decoder drops an unfinished quantum.
        ["enmime/mail/inlinemultipart.raw#2"] = "base64 ending in an unfinished quantum",
        ["enmime/mail/mime-bad-content-type.raw#2"] = "base64 ending in an unfinished quantum",
        ["enmime/mail/mime-blank-media-name.raw#2"] = "base64 ending in an unfinished quantum",
        ["enmime/mail/mime-duplicate-param.raw#2"] = "base64 ending in an unfinished quantum",
        ["enmime/mail/mime-unquoted-tspecials-param.raw#2"] = "base64 ending in an unfinished quantum",
        ["php-mime-mail-parser/m0028#2"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#3"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#4"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#5"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#6"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#7"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#8"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#9"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#10"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["php-mime-mail-parser/m0028#11"] = "base64 ending in an unfinished quantum (plain text declared base64)",
        ["james-mime4j/mimetools-testmsgs/frag.msg#2.2.2.2"] = "base64 ending in an unfinished quantum",
        // "PGh0bWw+Cg==" then a line that is not the close delimiter ("--boundary-->") and text. Padding ends the data
        // for us, as in Python (the file is "<html>\n"); MimeKit decodes on through the garbage after it.
        ["enmime/mail/epilogue-sample.raw#2"] = "base64 data after the padding",
        // The message starts with a line of blanks. MimeKit refuses the header block ("Failed to parse message
        // headers"); we read it as a fold of nothing and take the headers after it, as Python does.
        ["flanker/mailgun-pic.eml#2"] = "a line of blanks before the first header",
        ["flanker/russian-attachment-yahoo.eml#2"] = "a line of blanks before the first header",
        ["php-mime-mail-parser/m0011#2"] = "a line of blanks before the first header",
        // "Content-Type: ; name=...zip": no media type at all. RFC 2045 (5.2) makes that text/plain, as Python reads it;
        // MimeKit's parser makes it application/octet-stream. Names and bytes agree.
        ["mime-tools/testmsgs/malformed-content-type-zip.msg#2"] = "empty media type: text/plain by RFC 2045",
    };

    [Fact]
    public async Task Detached_attachments_match_what_MimeKit_extracts()
    {
        var ct = TestContext.Current.CancellationToken;
        var messages = TestCorpus.Messages;
        var disagreements = new Dictionary<string, string>(StringComparer.Ordinal);
        int compared = 0, renumbered = 0, messageParts = 0, uuBlocks = 0;
        foreach (var message in messages)
        {
            byte[] input = await File.ReadAllBytesAsync(message.FullPath, ct);
            var (_, _, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions { MinSizeBytes = 0 }, sink: new RecordingSink());
            if (sink.Items.Count == 0)
            {
                continue;
            }

            Dictionary<string, Kit.MimeEntity>? theirs = null;
            string? failure = null;
            try
            {
                theirs = PartsByPath(await MimeKit.MimeMessage.LoadAsync(new MemoryStream(input), ct));
            }
            catch (FormatException e)
            {
                failure = $"MimeKit cannot parse the message: {e.Message}";
            }

            foreach (var item in sink.Items)
            {
                string key = message.RelativePath + "#" + item.Descriptor.PartPath;
                if (item.Descriptor.PartPath.Contains(":uu", StringComparison.Ordinal))
                {
                    uuBlocks++;
                    continue;
                }
                if (item.Descriptor.ContentType.StartsWith("message/", StringComparison.Ordinal))
                {
                    messageParts++;
                    continue;
                }
                compared++;
                if (failure is not null)
                {
                    disagreements[key] = failure;
                }
                else if (await Compare(item, theirs!.GetValueOrDefault(item.Descriptor.PartPath) as Kit.MimePart, ct) is { } difference)
                {
                    // Parts can be numbered differently (an empty part between two doubled delimiters): match on
                    // name, type and content when exactly one of MimeKit's leaves has them.
                    var matches = new List<Kit.MimePart>();
                    foreach (var leaf in theirs!.Values.OfType<Kit.MimePart>())
                    {
                        if (await Compare(item, leaf, ct) is null)
                        {
                            matches.Add(leaf);
                        }
                    }
                    if (matches.Count == 1)
                    {
                        renumbered++;
                    }
                    else
                    {
                        disagreements[key] = difference;
                    }
                }
            }
        }

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"MimeKit oracle: {compared} attachments compared ({renumbered} matched by name, type and content at another path), {disagreements.Count} disagreements; {messageParts} message/* parts and {uuBlocks} uuencoded blocks not comparable");
        foreach (var (key, why) in disagreements)
        {
            output?.WriteLine($"disagreement {key}: {why}");
        }

        Mail.AssertOnlyKnownDifferences("MimeKit", disagreements, KnownDifferences, messages);
        Assert.True(compared >= 400, $"only {compared} attachments compared");
    }

    private static async Task<string?> Compare(RecordingSink.Stored ours, Kit.MimePart? theirs, CancellationToken cancellationToken)
    {
        if (theirs is null)
        {
            return "MimeKit has no leaf part at this path";
        }

        string type = theirs.ContentType.MimeType.ToLowerInvariant();
        string name = FileNames.Sanitize(theirs.FileName, type);
        var problems = new List<string>();
        if (type != ours.Descriptor.ContentType)
        {
            problems.Add($"type ours {ours.Descriptor.ContentType}, MimeKit {type}");
        }

        if (name != ours.Descriptor.FileName)
        {
            problems.Add($"name ours \"{ours.Descriptor.FileName}\", MimeKit \"{name}\"");
        }

        using var decoded = new MemoryStream();
        if (theirs.Content is not null)
        {
            await theirs.Content.DecodeToAsync(decoded, cancellationToken);
        }

        string sha = Convert.ToHexStringLower(SHA256.HashData(decoded.ToArray()));
        if (sha != ours.Sha256)
        {
            problems.Add($"content ours {ours.Size} bytes, MimeKit {decoded.Length} bytes");
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>MimeKit's entities by IMAP-style section number, numbered as <see cref="Detach.Mime.MimeEntity.Path"/> numbers ours.</summary>
    private static Dictionary<string, Kit.MimeEntity> PartsByPath(Kit.MimeMessage message)
    {
        var parts = new Dictionary<string, Kit.MimeEntity>(StringComparer.Ordinal);
        var stack = new Stack<(Kit.MimeEntity Entity, string Path)>();
        if (message.Body is null)
        {
            return parts;
        }

        stack.Push((message.Body, message.Body is Kit.Multipart ? "" : "1"));
        while (stack.Count > 0)
        {
            var (entity, path) = stack.Pop();
            parts.TryAdd(path, entity);
            switch (entity)
            {
                case Kit.Multipart multipart:
                    for (int i = multipart.Count - 1; i >= 0; i--)
                    {
                        stack.Push((multipart[i], path.Length == 0 ? $"{i + 1}" : $"{path}.{i + 1}"));
                    }

                    break;
                case Kit.MessagePart { Message.Body: { } body }:
                    // An encapsulated multipart shares its part's number; a single-part one is numbered "path.1".
                    stack.Push((body, body is Kit.Multipart ? path : path + ".1"));
                    break;
            }
        }
        return parts;
    }
}
