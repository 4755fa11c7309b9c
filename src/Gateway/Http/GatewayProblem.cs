using System.Globalization;

namespace Detach.Gateway.Http;

/// <summary>
/// A refusal the gateway answers with: status, a short title and one sentence for people, and the few
/// facts a client may want as JSON. None of it ever includes a key or a token.
/// </summary>
public sealed record GatewayProblem(int Status, string Code, string Title, string Detail)
{
    public TimeSpan? RetryAfter { get; init; }

    public DateTimeOffset? Since { get; init; }

    public string? SenderDomain { get; init; }

    public const string WrongKeyCode = "wrong_key";

    public static GatewayProblem WrongKey() => new(
        403, WrongKeyCode, "This link does not open a file",
        "The key in the link is not right for this file. Check that you copied the whole link, including the part after the # sign.");

    public static GatewayProblem MissingKey() => new(
        403, "missing_key", "A key is needed",
        "Open the full link from the message (with the part after the # sign), or send the key in the X-Detach-Key header.");

    public static GatewayProblem SessionExpired() => new(
        403, "session_expired", "This download page has expired",
        "Open the link from the message again to start a new download.");

    public static GatewayProblem NotFound() => new(
        404, "not_found", "No such file",
        "There is no file at this address. Check that the link was copied completely.");

    public static GatewayProblem Expired(DateTimeOffset when, string? senderDomain) => new(
        410, "expired", "This file has expired",
        $"The file expired on {FormatDate(when)} and was erased; ask the sender{From(senderDomain)} to send it again.")
    { Since = when, SenderDomain = senderDomain };

    public static GatewayProblem Revoked(DateTimeOffset when, string? senderDomain) => new(
        410, "revoked", "This file was withdrawn",
        $"The file was withdrawn on {FormatDate(when)} and erased; ask the sender{From(senderDomain)} if you still need it.")
    { Since = when, SenderDomain = senderDomain };

    public static GatewayProblem DownloadLimitReached(string? senderDomain) => new(
        410, "download_limit", "This file has been downloaded too often",
        $"The link allowed a limited number of downloads and they are used up; ask the sender{From(senderDomain)} to send it again.")
    { SenderDomain = senderDomain };

    public static GatewayProblem StorageUnavailable() => new(
        503, "storage_unavailable", "The file store is unavailable",
        "The file is safe but cannot be read right now. Try again in a few minutes.")
    { RetryAfter = TimeSpan.FromSeconds(60) };

    public static GatewayProblem Busy() => new(
        503, "busy", "Too many downloads at once",
        "The server is busy with other downloads. Try again in a minute.")
    { RetryAfter = TimeSpan.FromSeconds(30) };

    public static GatewayProblem TooManyAttempts(TimeSpan retryAfter) => new(
        429, "too_many_attempts", "Too many attempts",
        "Too many wrong keys were tried from your address. Wait a minute and try again.")
    { RetryAfter = retryAfter };

    public static string FormatDate(DateTimeOffset when) =>
        when.UtcDateTime.ToString("d MMMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static string From(string? senderDomain) =>
        string.IsNullOrWhiteSpace(senderDomain) ? "" : " (" + senderDomain + ")";
}
