using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace Detach.Gateway.Http;

/// <summary>
/// One line per request: method, path, status, body bytes sent, duration and client address. Request headers
/// (X-Detach-Key) and cookies (download tokens) are never logged. The path is the one the application saw:
/// whatever followed it in the request target ('#', %23, a query: where a rewritten link carries its key) was
/// cut before the request reached the pipeline (<see cref="TargetCuttingContextFactory"/>), shown as "[cut]".
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
            var path = context.Request.PathBase.Add(context.Request.Path).ToString();
            Log(logger, context.Request.Method, context.Features.Get<TargetCutFeature>() is null ? path : path + "[cut]", status,
                counter.Written, Stopwatch.GetElapsedTime(started).TotalMilliseconds, context.Connection.RemoteIpAddress?.ToString() ?? "-", outcome);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Method} {Path} {Status} {Bytes} {DurationMs:0.0}ms {Remote} {Outcome}")]
    private static partial void Log(ILogger logger, string method, string path, int status, long bytes, double durationMs, string remote, string outcome);
}
