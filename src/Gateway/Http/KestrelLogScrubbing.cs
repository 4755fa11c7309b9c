namespace Detach.Gateway.Http;

/// <summary>
/// Kestrel turns away a request it cannot parse before any HttpContext exists, so <see cref="TargetCuttingContextFactory"/>
/// never sees it, and its bad-request message quotes up to 128 bytes of the offending request line or header line:
/// a link key in a mangled target or in a malformed X-Detach-Key header would be logged as it came, at Debug. This
/// logger factory wraps Kestrel's loggers (and only those) so that a quoted excerpt becomes '…' and the
/// BadHttpRequestException, a client's error that needs no stack trace, is not attached.
/// </summary>
public sealed class KestrelLogScrubbing(ILoggerFactory inner) : ILoggerFactory
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return categoryName.StartsWith(KestrelCategory, StringComparison.Ordinal) ? new ScrubbingLogger(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    /// <summary>The text with everything between its first and last single quote replaced by '…'.</summary>
    public static string Scrub(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var first = text.IndexOf('\'', StringComparison.Ordinal);
        var last = text.LastIndexOf('\'');
        return last > first && first >= 0 ? string.Concat(text.AsSpan(0, first + 1), "…", text.AsSpan(last)) : text;
    }

    private sealed class ScrubbingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            var scrubbed = Scrub(message);
            var clientError = exception is BadHttpRequestException;
            if (ReferenceEquals(scrubbed, message) && !clientError)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            IReadOnlyList<KeyValuePair<string, object?>> values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? [.. pairs.Select(p => p.Value is string text ? new KeyValuePair<string, object?>(p.Key, Scrub(text)) : p)]
                : [];
            inner.Log(logLevel, eventId, values, clientError ? null : exception, (_, _) => scrubbed);
        }
    }
}
