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
        var counter = new CountingStream(original.Stream);
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(counter, original));
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

    /// <summary>Passes writes through and counts them.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long written;

        public long Written => Interlocked.Read(ref written);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Interlocked.Add(ref written, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref written, buffer.Length);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
