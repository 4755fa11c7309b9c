using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Metrics;
using Detach.Gateway.Notify;
using Detach.Mime;
using Detach.Vault.Index;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Detach.Gateway.Http;

/// <summary>
/// POST /d/{cid}/meta and GET|HEAD /d/{cid}/file. The key arrives in the X-Detach-Key header (or the
/// metadata call's JSON body), or as the sealed download token the metadata call put in a cookie;
/// never in a URL. The file is decrypted record by record as it is sent, and only the records a Range
/// needs are read from the store.
/// </summary>
public sealed partial class DownloadHandler(
    AttachmentUnlocker unlocker,
    IAttachmentIndex index,
    DownloadTokenSealer sealer,
    DownloadSlots slots,
    WrongKeyLimit wrongKeys,
    PageLanguages languages,
    DetachMetrics metrics,
    IOptions<GatewayOptions> gatewayOptions,
    IOptions<DetachOptions> detachOptions,
    ILogger<DownloadHandler> logger,
    FirstDownloads? firstDownloads = null)
{
    private const int MaxMetaBodyBytes = 1024;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task MetaAsync(HttpContext context, string cid)
    {
        ArgumentNullException.ThrowIfNull(context);
        var cancellationToken = context.RequestAborted;
        var (record, parsedCid, problem) = await unlocker.FindAsync(cid, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            await GatewayAnswers.WriteProblemAsync(context, problem).ConfigureAwait(false);
            return;
        }

        var linkKey = context.Request.Headers.ContainsKey(LinkKeyHeader.Name)
            ? ParseKey(context.Request.Headers[LinkKeyHeader.Name].ToString())
            : await ReadKeyFromBodyAsync(context.Request, cancellationToken).ConfigureAwait(false);
        if (linkKey is null)
        {
            await RefuseAsync(context, record!, GatewayProblem.WrongKey()).ConfigureAwait(false);
            return;
        }

        var (attachment, refusal) = await unlocker.UnlockAsync(record!, parsedCid, linkKey, cancellationToken).ConfigureAwait(false);
        CryptographicOperations.ZeroMemory(linkKey);
        if (attachment is null)
        {
            await RefuseAsync(context, record!, refusal!).ConfigureAwait(false);
            return;
        }

        using (attachment)
        {
            var lifetime = TimeSpan.FromMinutes(gatewayOptions.Value.DownloadTokenMinutes);
            var token = sealer.Seal(record!.Cid, attachment.Key.LinkKey, lifetime);
            context.Response.Cookies.Append(LinkKeyHeader.TokenCookie, token, new CookieOptions
            {
                HttpOnly = true,
                SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict,
                Secure = context.Request.IsHttps || detachOptions.Value.PublicUrl.StartsWith("https:", StringComparison.OrdinalIgnoreCase),
                // The path as this client spelled it (the route matched it), so the browser sends the cookie back to /file.
                Path = context.Request.PathBase.Add("/d/" + cid).ToUriComponent(),
                MaxAge = lifetime,
                IsEssential = true,
            });

            SecurityHeaders.Apply(context.Response);
            var language = languages.Negotiate(context.Request);
            PageLanguages.Label(context.Response, language);
            context.Response.ContentType = "application/json; charset=utf-8";
            var body = JsonSerializer.SerializeToUtf8Bytes(new FileMetadata(
                FileNameText.ForDisplay(record.FileName) is { Length: > 0 } name ? name : FileNameText.Fallback,
                record.PlaintextSize,
                SizeText.Format(record.PlaintextSize, language.SizeWords),
                SafeContentType(record.ContentType),
                record.CreatedAt,
                record.ExpiresAt,
                record.SenderDomain,
                unlocker.DownloadsLeft(record),
                (int)lifetime.TotalSeconds,
                record.Warning), Json);
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task FileAsync(HttpContext context, string cid)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var cancellationToken = context.RequestAborted;
        var (record, parsedCid, problem) = await unlocker.FindAsync(cid, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            await GatewayAnswers.WriteProblemAsync(context, problem).ConfigureAwait(false);
            return;
        }

        byte[]? linkKey;
        if (request.Headers.ContainsKey(LinkKeyHeader.Name))
        {
            linkKey = ParseKey(request.Headers[LinkKeyHeader.Name].ToString());
            problem = linkKey is null ? GatewayProblem.WrongKey() : null;
        }
        else if (request.Cookies.TryGetValue(LinkKeyHeader.TokenCookie, out var tokenText))
        {
            linkKey = sealer.Open(record!.Cid, tokenText)?.LinkKey;
            problem = linkKey is null ? GatewayProblem.SessionExpired() : null;
        }
        else
        {
            linkKey = null;
            problem = GatewayProblem.MissingKey();
        }

        if (problem is not null)
        {
            await RefuseAsync(context, record!, problem).ConfigureAwait(false);
            return;
        }

        try
        {
            IDisposable? slot;
            try
            {
                slot = await slots.TryEnterAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return; // the client gave up while waiting for a slot
            }

            using (slot)
            {
                if (slot is null)
                {
                    await GatewayAnswers.WriteProblemAsync(context, GatewayProblem.Busy()).ConfigureAwait(false);
                    return;
                }

                var (attachment, refusal) = await unlocker.UnlockAsync(record!, parsedCid, linkKey!, cancellationToken).ConfigureAwait(false);
                if (attachment is null)
                {
                    await RefuseAsync(context, record!, refusal!).ConfigureAwait(false);
                    return;
                }

                using (attachment)
                {
                    await SendAsync(context, attachment, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(linkKey);
        }
    }

    private async Task SendAsync(HttpContext context, UnlockedAttachment attachment, CancellationToken cancellationToken)
    {
        var record = attachment.Record;
        var request = context.Request;
        var response = context.Response;
        // The length follows from the ciphertext size (which decides the last record), not from a second column.
        var length = RecordFormat.GetPlaintextLength(record.CiphertextSize);
        var etag = "\"" + record.Cid + "\"";

        var range = ByteRange.Parse(request.Headers.Range, length);
        if (range.Kind != ByteRangeKind.Whole && request.Headers.ContainsKey(HeaderNames.IfRange)
            && !string.Equals(request.Headers.IfRange.ToString().Trim(), etag, StringComparison.Ordinal))
        {
            // If-Range names another version (or a date, which this gateway does not track): send it all.
            range = new ByteRange(ByteRangeKind.Whole, 0, length);
        }

        SecurityHeaders.Apply(response, file: true);
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = etag;
        if (range.Kind == ByteRangeKind.Unsatisfiable)
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = range.ContentRange(length);
            response.ContentLength = 0;
            return;
        }

        // A whole download takes its place under the link's limit before its first byte goes out (a range does not count).
        var counted = false;
        if (range.Kind == ByteRangeKind.Whole && !HttpMethods.IsHead(request.Method))
        {
            (counted, var refusal) = await CountDownloadAsync(record, cancellationToken).ConfigureAwait(false);
            if (refusal is not null)
            {
                await GatewayAnswers.WriteProblemAsync(context, refusal).ConfigureAwait(false);
                return;
            }
        }

        response.StatusCode = range.Kind == ByteRangeKind.Partial ? StatusCodes.Status206PartialContent : StatusCodes.Status200OK;
        if (range.Kind == ByteRangeKind.Partial)
        {
            response.Headers.ContentRange = range.ContentRange(length);
        }

        response.ContentType = SafeContentType(record.ContentType);
        response.Headers.ContentDisposition = ContentDispositionValue.Attachment(record.FileName);
        response.Headers.LastModified = record.CreatedAt.ToString("R", CultureInfo.InvariantCulture);
        response.ContentLength = range.Length;
        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }

        // Each record is read into Kestrel's own output buffer, opened there and sent from there; Kestrel sends one
        // record while the next is decrypted (DownloadGatewayExtensions.ResponseBufferBytes lets several wait).
        var counting = new CountingPipeWriter(response.BodyWriter);
        var completed = false;
        var cut = false;
        try
        {
            await response.StartAsync(cancellationToken).ConfigureAwait(false);
            await RecordDecryptor.DecryptRangeAsync(
                unlocker.RangeOpener(attachment.Cid), record.CiphertextSize, attachment.Key, range.Start, range.Length, counting, cancellationToken).ConfigureAwait(false);
            await response.CompleteAsync().ConfigureAwait(false);
            completed = true;
        }
        catch (RecordAuthenticationException exception)
        {
            // Never deliver a forged record: cut the connection so the client sees a failed transfer, not a short file.
            metrics.FailedMacs.Add(1);
            LogFailedMac(logger, record.Cid, exception.RecordIndex, counting.Written);
            cut = true;
        }
        catch (Exception exception) when (AttachmentUnlocker.IsStorageFailure(exception) && !cancellationToken.IsCancellationRequested)
        {
            LogStorageFailedMidway(logger, record.Cid, counting.Written, exception.GetType().Name, exception);
            cut = true;
        }
        catch (InvalidDataException exception)
        {
            LogStorageFailedMidway(logger, record.Cid, counting.Written, exception.GetType().Name, exception);
            cut = true;
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException && cancellationToken.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            metrics.DownloadBytes.Add(counting.Written);
            if (counted && !completed)
            {
                await UncountDownloadAsync(record.Cid).ConfigureAwait(false);
            }
        }

        if (!completed)
        {
            if (cut)
            {
                // Only now, with its place under the limit given back: a client that sees the break may ask again.
                context.Abort();
            }

            return;
        }

        if (firstDownloads is not null && range.Start + range.Length == length)
        {
            // The file's last byte went out (a whole download, or the end of a resumed one): the sender may want to know.
            await firstDownloads.DownloadedAsync(record).ConfigureAwait(false);
        }

        if (range.Kind == ByteRangeKind.Whole)
        {
            metrics.Downloads.Add(1);
        }
    }

    /// <summary>
    /// Counts a whole download as it starts, in one statement with the limit check (the record's limit, else
    /// Gateway:MaxDownloadsPerLink), so that neither a request racing it nor one sent the moment it ends gets past the
    /// limit; one that does not complete gives its place back. The refusal says why when the count is refused; if the
    /// index cannot take the write at all (a full disk), the download goes ahead uncounted.
    /// </summary>
    private async Task<(bool Counted, GatewayProblem? Refusal)> CountDownloadAsync(AttachmentRecord record, CancellationToken cancellationToken)
    {
        try
        {
            if (await index.TryCountDownloadAsync(record.Cid, gatewayOptions.Value.MaxDownloadsPerLink, CancellationToken.None).ConfigureAwait(false))
            {
                return (true, null);
            }
        }
        catch (Exception exception) when (exception is System.Data.Common.DbException or IOException)
        {
            LogCountFailed(logger, record.Cid, exception.Message);
            return (false, null);
        }

        // Used up, revoked or expired since the request was checked: answer as a new request would be answered.
        var (_, _, problem) = await unlocker.FindAsync(record.Cid, cancellationToken).ConfigureAwait(false);
        return (false, problem ?? GatewayProblem.DownloadLimitReached(record.SenderDomain));
    }

    private async Task UncountDownloadAsync(string cid)
    {
        try
        {
            await index.UncountDownloadAsync(cid, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is System.Data.Common.DbException or IOException)
        {
            LogUncountFailed(logger, cid, exception.Message);
        }
    }

    /// <summary>Answers a refusal; a wrong key is counted, and past the limits answered 429 instead of 403.</summary>
    private Task RefuseAsync(HttpContext context, AttachmentRecord record, GatewayProblem problem)
    {
        if (problem.Status == StatusCodes.Status403Forbidden)
        {
            metrics.KeyRejections.Add(1);
        }

        if (problem.Code == GatewayProblem.WrongKeyCode && wrongKeys.Count(context.Connection.RemoteIpAddress, record.Cid) is { } wait)
        {
            problem = GatewayProblem.TooManyAttempts(wait);
        }

        return GatewayAnswers.WriteProblemAsync(context, problem);
    }

    private static byte[]? ParseKey(string? text) =>
        LinkKeyText.TryParse(text?.Trim(), out var key) ? key : null;

    private static async Task<byte[]?> ReadKeyFromBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is > MaxMetaBodyBytes || !(request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            return null;
        }

        // Read at most one byte past the cap: a chunked body (no Content-Length) is bounded the same way.
        var buffer = ArrayPool<byte>.Shared.Rent(MaxMetaBodyBytes + 1);
        try
        {
            var read = await request.Body.ReadAtLeastAsync(buffer.AsMemory(0, MaxMetaBodyBytes + 1), MaxMetaBodyBytes + 1, throwOnEndOfStream: false, cancellationToken)
                .ConfigureAwait(false);
            if (read is 0 or > MaxMetaBodyBytes)
            {
                return null;
            }

            using var document = JsonDocument.Parse(buffer.AsMemory(0, read));
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String
                ? ParseKey(key.GetString())
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>The stored type if it is a well-formed media type, without parameters; else application/octet-stream.</summary>
    public static string SafeContentType(string? stored)
    {
        if (!string.IsNullOrWhiteSpace(stored) && stored.Length <= 200
            && MediaTypeHeaderValue.TryParse(stored, out var parsed)
            && parsed.Type.Length > 0 && parsed.SubType.Length > 0 && !parsed.MatchesAllTypes && !parsed.MatchesAllSubTypes)
        {
            return parsed.MediaType.ToString().ToLowerInvariant();
        }

        return "application/octet-stream";
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Error,
        Message = "Record {RecordIndex} of {Cid} failed authentication; download aborted after {Bytes} bytes")]
    private static partial void LogFailedMac(ILogger logger, string cid, long recordIndex, long bytes);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Store failed while serving {Cid} after {Bytes} bytes ({Error}); download aborted")]
    private static partial void LogStorageFailedMidway(ILogger logger, string cid, long bytes, string error, Exception exception);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "An unfinished download of {Cid} still counts: the index refused to take it back ({Error})")]
    private static partial void LogUncountFailed(ILogger logger, string cid, string error);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Download of {Cid} goes ahead uncounted: the index refused the write ({Error})")]
    private static partial void LogCountFailed(ILogger logger, string cid, string error);

    private sealed record FileMetadata(
        string Name, long Size, string SizeText, string Type, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string? SenderDomain, int? DownloadsLeft,
        int DownloadWindowSeconds, string? Warning);
}
