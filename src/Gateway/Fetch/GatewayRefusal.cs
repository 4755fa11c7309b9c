using System.Globalization;
using System.Text.Json;
using Detach.Gateway.Cli;
using Detach.Gateway.Http;

namespace Detach.Gateway.Fetch;

/// <summary>
/// Turns an answer other than the file into a <see cref="FetchFailedException"/>: the status decides the exit code,
/// the gateway's JSON problem (error code and its own sentence) the wording. Anything else that answers (a
/// reverse proxy's error page) still gets a clear sentence of ours. Text from the server is stripped of control
/// characters before it reaches the terminal.
/// </summary>
public static class GatewayRefusal
{
    private const int MaxBodyBytes = 8 * 1024;
    private const int MaxDetailLength = 400;

    /// <summary>What the gateway's JSON problem says (<c>GatewayAnswers</c> writes it).</summary>
    public sealed record Problem(string? Error, string? Title, string? Detail);

    public static async Task<FetchFailedException> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        var host = response.RequestMessage?.RequestUri?.Authority ?? "the server";
        var retryAfter = response.Headers.RetryAfter is { } retry
            ? retry.Delta ?? (retry.Date is { } date ? date - DateTimeOffset.UtcNow : null)
            : null;
        return Map((int)response.StatusCode, host, await ReadProblemAsync(response, cancellationToken).ConfigureAwait(false), retryAfter);
    }

    public static FetchFailedException Map(int status, string host, Problem? problem, TimeSpan? retryAfter)
    {
        var detail = Printable(problem?.Detail);
        var error = Printable(problem?.Error);
        var code = error.Length == 0 ? $"HTTP {status}" : $"HTTP {status}, {error}";
        string Said(string fallback) => detail.Length > 0 ? detail : fallback;
        var later = retryAfter is { } wait && wait > TimeSpan.Zero
            ? $"try again in {Math.Ceiling(wait.TotalSeconds).ToString(CultureInfo.InvariantCulture)} s"
            : "try again later";

        return status switch
        {
            403 => new(ExitCodes.NoPermission,
                $"the key in the link does not open this file ({code}). {Said("Check that you copied the whole link, including the part after the # sign.")}"),
            404 => new(ExitCodes.NoInput,
                $"{host} has no file at this address ({code}). {Said("Check that the link was copied completely.")}"),
            410 => new(ExitCodes.Unavailable,
                $"the file is gone: {GoneReason(error)} ({code}). {Said("Its key was erased; ask the sender to send it again.")}"),
            429 => new(ExitCodes.TempFail,
                $"too many attempts from your address ({code}); {later}."),
            503 => new(ExitCodes.TempFail,
                $"{host} cannot serve the file right now ({code}); {later}.{(detail.Length > 0 ? " " + detail : "")}"),
            500 or 502 or 504 => new(ExitCodes.TempFail,
                $"{host} failed to answer ({code}); {later}."),
            _ => new(ExitCodes.Protocol,
                $"unexpected answer from {host} ({code}); this is not a detach download gateway, or a proxy in between refused the request."),
        };
    }

    private static string GoneReason(string error) => error switch
    {
        "expired" => "it expired",
        "revoked" => "the sender or an administrator withdrew it",
        "download_limit" => "its download limit is used up",
        _ => "expired or withdrawn",
    };

    private static async Task<Problem?> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentType?.MediaType is not "application/json")
        {
            return null;
        }

        try
        {
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var buffer = new byte[MaxBodyBytes];
                var read = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                using var document = JsonDocument.Parse(buffer.AsMemory(0, read));
                var root = document.RootElement;
                return root.ValueKind == JsonValueKind.Object
                    ? new Problem(Text(root, "error"), Text(root, "title"), Text(root, "detail"))
                    : null;
            }
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException)
        {
            return null; // the status alone still says what happened
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Printable(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "";
        }

        var clean = string.Concat(text.Trim().Select(c => FileNameText.IsInvisibleOrControl(c) ? ' ' : c));
        return clean.Length <= MaxDetailLength ? clean : clean[..MaxDetailLength] + "…";
    }
}
