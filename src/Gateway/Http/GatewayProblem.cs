using System.Globalization;

namespace Detach.Gateway.Http;

/// <summary>
/// A refusal the gateway answers with: status, a code, and the few facts a client may want (when, the sender's
/// domain, when to retry). Its title and sentence for people are in the page's resources (Problem.{Code}.Title,
/// Problem.{Code}.Detail), in the reader's language. None of it ever includes a key or a token.
/// </summary>
public sealed record GatewayProblem(int Status, string Code)
{
    public const string WrongKeyCode = "wrong_key";

    public TimeSpan? RetryAfter { get; init; }

    public DateTimeOffset? Since { get; init; }

    public string? SenderDomain { get; init; }

    public static GatewayProblem WrongKey() => new(403, WrongKeyCode);

    public static GatewayProblem MissingKey() => new(403, "missing_key");

    public static GatewayProblem SessionExpired() => new(403, "session_expired");

    public static GatewayProblem NotFound() => new(404, "not_found");

    public static GatewayProblem Expired(DateTimeOffset when, string? senderDomain) => new(410, "expired") { Since = when, SenderDomain = senderDomain };

    public static GatewayProblem Revoked(DateTimeOffset when, string? senderDomain) => new(410, "revoked") { Since = when, SenderDomain = senderDomain };

    public static GatewayProblem DownloadLimitReached(string? senderDomain) => new(410, "download_limit") { SenderDomain = senderDomain };

    public static GatewayProblem StorageUnavailable() => new(503, "storage_unavailable") { RetryAfter = TimeSpan.FromSeconds(60) };

    public static GatewayProblem Busy() => new(503, "busy") { RetryAfter = TimeSpan.FromSeconds(30) };

    public static GatewayProblem TooManyAttempts(TimeSpan retryAfter) => new(429, "too_many_attempts") { RetryAfter = retryAfter };

    public string Title(PageLanguage language)
    {
        ArgumentNullException.ThrowIfNull(language);
        return language.Text($"Problem.{Code}.Title");
    }

    /// <summary>The sentence for people: {0} is the date (with its zone), {1} the sender's domain in parentheses, or nothing.</summary>
    public string Detail(PageLanguage language)
    {
        ArgumentNullException.ThrowIfNull(language);
        var from = string.IsNullOrWhiteSpace(SenderDomain) ? "" : language.Text("Problem.SenderDomain", SenderDomain);
        return language.Text($"Problem.{Code}.Detail", Since is { } since ? FormatDate(since) : "", from);
    }

    /// <summary>One way for every language, with its zone: 2027-01-03 16:55 UTC.</summary>
    public static string FormatDate(DateTimeOffset when) =>
        when.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}
