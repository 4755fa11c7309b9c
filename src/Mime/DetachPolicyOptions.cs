namespace Detach.Mime;

/// <summary>What gets detached. Bound from configuration section "Policy".</summary>
public sealed class DetachPolicyOptions
{
    /// <summary>Default for <see cref="MinSizeBytes"/>: see src/Mime/README.md for why 4 KiB.</summary>
    public const long DefaultMinSizeBytes = 4 * 1024;

    /// <summary>Parts whose encoded body is smaller than this stay in the mail (config key Policy:MinSizeBytes).</summary>
    public long MinSizeBytes { get; set; } = DefaultMinSizeBytes;

    /// <summary>Keep images an HTML body of the same multipart/related refers to by cid: (Policy:KeepCidReferencedImages).</summary>
    public bool KeepCidReferencedImages { get; set; } = true;

    /// <summary>Detach a forwarded message/rfc822 as one .eml; false descends into it instead (Policy:DetachForwardedMessages).</summary>
    public bool DetachForwardedMessages { get; set; } = true;

    /// <summary>Also detach parts marked "inline" that carry a file name, such as photos pasted by Apple Mail (Policy:DetachInlineNamedParts).</summary>
    public bool DetachInlineNamedParts { get; set; }

    /// <summary>Leave signed and encrypted messages untouched (Policy:SkipSignedMessages). Turning this off breaks their signatures.</summary>
    public bool SkipSignedMessages { get; set; } = true;

    /// <summary>At most this many parts are detached from one message; later ones stay (Policy:MaxAttachmentsPerMessage).</summary>
    public int MaxAttachmentsPerMessage { get; set; } = 500;

    /// <summary>What becomes of a message past a parser limit, whose deepest parts were not looked into (Policy:WhenLimitExceeded).</summary>
    public LimitExceededAction WhenLimitExceeded { get; set; } = LimitExceededAction.Deliver;

    /// <summary>The language of the notice in the mail: "en", "fr", or "en+fr" for both, in that order (Policy:Language).</summary>
    public string Language { get; set; } = NoticeLanguage.DefaultTag;

    /// <summary>
    /// Per sender domain, a language that overrides <see cref="Language"/> (Policy:LanguageBySenderDomain:example.fr=fr).
    /// Empty unless configured: the binder adds to whatever a collection already holds.
    /// </summary>
    public Dictionary<string, string> LanguageBySenderDomain { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The notice's languages for mail from <paramref name="senderDomain"/> (the caller's idea of it: envelope, else From).</summary>
    public IReadOnlyList<NoticeLanguage> NoticeLanguagesFor(string? senderDomain)
    {
        var choice = senderDomain is not null && LanguageBySenderDomain.TryGetValue(senderDomain, out var own) ? own : Language;
        return NoticeLanguage.ParseChoice(choice, out var problem) ?? throw new InvalidOperationException(problem);
    }

    /// <summary>Problems with the values, each naming its configuration key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MinSizeBytes < 0)
        {
            errors.Add("Policy:MinSizeBytes must not be negative.");
        }

        if (MinSizeBytes > 1L << 40)
        {
            errors.Add("Policy:MinSizeBytes is larger than 1 TiB; no attachment would ever be detached.");
        }

        if (MaxAttachmentsPerMessage is < 1 or > 100_000)
        {
            errors.Add("Policy:MaxAttachmentsPerMessage must be between 1 and 100000.");
        }

        if (!Enum.IsDefined(WhenLimitExceeded))
        {
            errors.Add("Policy:WhenLimitExceeded must be Deliver, Reject or TempFail.");
        }

        if (NoticeLanguage.ParseChoice(Language, out var problem) is null)
        {
            errors.Add("Policy:Language " + problem);
        }

        foreach (var (domain, language) in LanguageBySenderDomain)
        {
            if (NoticeLanguage.ParseChoice(language, out problem) is null)
            {
                errors.Add($"Policy:LanguageBySenderDomain:{domain} " + problem);
            }
        }
        return errors;
    }
}

/// <summary>
/// What happens to a message past a parser limit (nesting deeper than <see cref="MimeParserOptions.MaxDepth"/>, more
/// than <see cref="MimeParserOptions.MaxParts"/> parts, a header field or block over its size): what lies past the
/// limit cannot be looked into, so attachments there would stay in the mail.
/// </summary>
public enum LimitExceededAction
{
    /// <summary>Deliver it, the parts past the limit as they came, with an X-Detach trace saying why: mail is never lost.</summary>
    Deliver,

    /// <summary>Refuse it permanently (554 5.6.0; `detach filter` exits 65).</summary>
    Reject,

    /// <summary>Refuse it for now (451 4.6.0; `detach filter` exits 75): the sender retries, an operator can look.</summary>
    TempFail,
}

/// <summary>A message ran into a parser limit and the policy says not to deliver it. Nothing was stored.</summary>
public sealed class MimeLimitExceededException(string limit, LimitExceededAction action)
    : Exception($"The message exceeds a parser limit: {limit}.")
{
    /// <summary>Which limit, in words: "nesting deeper than 100 levels".</summary>
    public string Limit { get; } = limit;

    public LimitExceededAction Action { get; } = action;
}

/// <summary>How the rewriter behaves beyond policy: parser limits and notice wording.</summary>
public sealed class MimeRewriterOptions
{
    public MimeParserOptions Parser { get; set; } = new();

    /// <summary>Name shown in the notice ("... stored by {ServiceName}").</summary>
    public string ServiceName { get; set; } = "Detach";

    /// <summary>Name of the trace header added at the top of rewritten messages.</summary>
    public string TraceHeaderName { get; set; } = "X-Detach";

    /// <summary>HTML bodies scanned for cid: references are read up to this many decoded bytes.</summary>
    public long MaxHtmlScanBytes { get; set; } = 16L * 1024 * 1024;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>(Parser.Validate());
        if (string.IsNullOrWhiteSpace(ServiceName) || !EncodedWords.IsPrintableAscii(ServiceName))
        {
            errors.Add("Mime:ServiceName must be printable ASCII.");
        }

        if (string.IsNullOrWhiteSpace(TraceHeaderName) || TraceHeaderName.AsSpan().IndexOfAnyExceptInRange('!', '~') >= 0 || TraceHeaderName.Contains(':', StringComparison.Ordinal))
        {
            errors.Add("Mime:TraceHeaderName must be a header field name.");
        }

        if (MaxHtmlScanBytes < 0)
        {
            errors.Add("Mime:MaxHtmlScanBytes must not be negative.");
        }

        return errors;
    }
}
