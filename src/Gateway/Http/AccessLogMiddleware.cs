using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace Detach.Gateway.Http;

/// <summary>
/// One line per request: method, path, status, body bytes sent, duration and client address. The query
/// string, request headers (X-Detach-Key) and cookies (download tokens) are never logged; the link key
/// itself never reaches the server in a URL.
/// </summary>
public sealed partial class AccessLogMiddleware(RequestDelegate next, ILogger<AccessLogMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = Stopwatch.GetTimestamp();
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var counter = new CountingResponseBody(original);
        context.Features.Set<IHttpResponseBodyFeature>(counter);
        var failed = false;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            context.Features.Set(original);
            var status = failed && !context.Response.HasStarted ? 500 : context.Response.StatusCode;
            var outcome = context.RequestAborted.IsCancellationRequested ? "aborted" : failed ? "failed" : "ok";
            Log(logger, context.Request.Method, context.Request.PathBase.Add(context.Request.Path).ToString(), status,
                counter.Written, Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.Connection.RemoteIpAddress?.ToString() ?? "-", outcome);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Method} {Path} {Status} {Bytes} {DurationMs:0.0}ms {Remote} {Outcome}")]
    private static partial void Log(ILogger logger, string method, string path, int status, long bytes, double durationMs, string remote, string outcome);
}
