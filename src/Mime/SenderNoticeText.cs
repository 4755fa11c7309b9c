namespace Detach.Mime;

/// <summary>
/// The words of the notice a sender may get when an attachment is first downloaded (Gateway:NotifySender), in the
/// languages the sender's domain reads (Policy:Language and its per-domain overrides), from the same resource files
/// as the notice in the mail. Several languages follow one another, in the order configured.
/// </summary>
public static class SenderNoticeText
{
    public static string Subject(IReadOnlyList<NoticeLanguage> languages, string fileName)
    {
        ArgumentNullException.ThrowIfNull(languages);
        return string.Join(" / ", languages.Select(l => l.Format("SenderNotice.Subject", fileName)));
    }

    public static string Body(IReadOnlyList<NoticeLanguage> languages, string fileName, DateTimeOffset downloadedAt)
    {
        ArgumentNullException.ThrowIfNull(languages);
        return string.Join("\n\n", languages.Select(l => l.Format("SenderNotice.Body", fileName, l.Date(downloadedAt)).ReplaceLineEndings("\n"))) + "\n";
    }
}
