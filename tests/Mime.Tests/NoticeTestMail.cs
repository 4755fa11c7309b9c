using System.Text;

namespace Detach.Mime.Tests;

/// <summary>Messages for the notice tests, rewritten with a chosen language and download limit.</summary>
internal static class NoticeTestMail
{
    /// <summary>multipart/mixed: one text part (its header fields and raw body as given), then <paramref name="files"/> base64 attachments of 9,000 bytes.</summary>
    public static byte[] WithTextPart(string textHeaders, byte[] textBody, int files = 1) =>
        WithFirstPart([.. Encoding.ASCII.GetBytes(textHeaders.Replace("\n", "\r\n", StringComparison.Ordinal) + (textHeaders.Length > 0 ? "\r\n\r\n" : "\r\n")), .. textBody], files);

    /// <summary>multipart/mixed: <paramref name="part"/> (header fields included), then <paramref name="files"/> base64 attachments of 9,000 bytes.</summary>
    public static byte[] WithFirstPart(byte[] part, int files = 1)
    {
        var tail = new StringBuilder();
        for (int i = 1; i <= files; i++)
        {
            tail.Append("\r\n--b1\r\nContent-Type: application/pdf; name=\"report").Append(i).Append(".pdf\"\r\nContent-Disposition: attachment; filename=\"report")
                .Append(i).Append(".pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").Append(MessageBuilder.Base64Lines(MessageBuilder.RandomBytes(9000, i)));
        }
        tail.Append("\r\n--b1--\r\n");
        return [.. "From: Alice <alice@example.org>\r\nSubject: Report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"u8, .. part,
            .. Encoding.ASCII.GetBytes(tail.ToString())];
    }

    public static async Task<(byte[] Output, PreparedMessage Result)> RewriteAsync(byte[] input, string language, int? maxDownloads = null)
    {
        var languages = NoticeLanguage.ParseChoice(language, out var problem) ?? throw new ArgumentException(problem, nameof(language));
        var rewriter = new MimeRewriter(new DetachPolicyOptions(), new RecordingSink());
        var result = await rewriter.PrepareAsync(new MemoryStream(input, writable: false),
            _ => new NoticeOptions { Languages = languages, MaxDownloadsPerLink = maxDownloads }, TestContext.Current.CancellationToken);
        using var output = new MemoryStream();
        await result.WriteToAsync(output, TestContext.Current.CancellationToken);
        return (output.ToArray(), result);
    }

    /// <summary>The decoded body of the first part of <paramref name="mime"/> with that media type, in its declared charset.</summary>
    public static async Task<(MimeEntity Part, string Text)> BodyAsync(byte[] mime, string mediaType)
    {
        var structure = await Mail.ParseAsync(mime);
        var part = structure.Root.DescendantsAndSelf().First(e => e.MimeType == mediaType);
        var charset = Charsets.Find(part.ContentType.Parameters["charset"]) ?? Encoding.ASCII;
        return (part, charset.GetString(await Mail.ReadAllAsync(structure.OpenBody(part))));
    }
}
