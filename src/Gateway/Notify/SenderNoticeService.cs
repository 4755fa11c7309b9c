using Detach.Gateway.Configuration;
using Detach.Smtp;
using Detach.Vault.Index;

namespace Detach.Gateway.Notify;

/// <summary>
/// Sends queued notices: at once when this instance queued one, and every <see cref="PollInterval"/> for the rest
/// (notices other instances queued, retries). Each is leased before it is sent, so instances sharing an index
/// never send one twice while alive; a relay that is down or defers (4xx) postpones the notice (doubling waits from
/// Notify:FirstRetrySeconds up to an hour), one that refuses it (5xx) or three days of trying drop it.
/// </summary>
public sealed partial class SenderNoticeService(
    ISenderNoticeQueue queue, NoticeRelay relay, SenderNoticeSignal signal, DetachSettings settings, TimeProvider time,
    ILogger<SenderNoticeService> logger) : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(30);

    /// <summary>How long a leased notice is left to its sender; past it, a crashed sender's notice is due again.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromDays(3);

    private const int BatchSize = 20;

    /// <summary>The wait before attempt number <paramref name="attempts"/> + 1, after <paramref name="attempts"/> failed.</summary>
    public static TimeSpan Backoff(int attempts, int firstRetrySeconds) =>
        TimeSpan.FromSeconds(Math.Min(3600, firstRetrySeconds * Math.Pow(2, Math.Clamp(attempts - 1, 0, 20))));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = PollInterval;
            try
            {
                wait = await SendDueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested && exception is not OperationCanceledException)
            {
                LogQueueFailed(logger, exception.GetType().Name, exception);
            }

            try
            {
                await signal.WaitAsync(wait, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Sends every notice due now; returns how long to wait before the next one may be due.</summary>
    public async Task<TimeSpan> SendDueAsync(CancellationToken cancellationToken)
    {
        var wait = PollInterval;
        IReadOnlyList<SenderNotice> due;
        do
        {
            var now = time.GetUtcNow();
            due = await queue.LeaseDueNoticesAsync(now, now + Lease, BatchSize, cancellationToken).ConfigureAwait(false);
            foreach (var notice in due)
            {
                if (await SendAsync(notice, cancellationToken).ConfigureAwait(false) is { } retryAt)
                {
                    wait = TimeSpan.FromTicks(Math.Clamp((retryAt - time.GetUtcNow()).Ticks, 0, wait.Ticks));
                }
            }
        }
        while (due.Count == BatchSize);

        return wait;
    }

    /// <summary>Sends one notice; returns when it is due again, or null when it is done with (sent or dropped).</summary>
    private async Task<DateTimeOffset?> SendAsync(SenderNotice notice, CancellationToken cancellationToken)
    {
        var (refusal, failure) = await TrySendAsync(notice, cancellationToken).ConfigureAwait(false);
        if (refusal is null && failure is null)
        {
            await queue.RemoveNoticeAsync(notice.Id, cancellationToken).ConfigureAwait(false);
            LogSent(logger, notice.Cid, relay.Target);
            return null;
        }

        if (refusal is { IsPermanentFailure: true })
        {
            await queue.RemoveNoticeAsync(notice.Id, cancellationToken).ConfigureAwait(false);
            LogRefused(logger, notice.Cid, relay.Target, refusal.ToString());
            return null;
        }

        failure ??= refusal!.ToString();
        var now = time.GetUtcNow();
        if (now - notice.DownloadedAt > GiveUpAfter)
        {
            await queue.RemoveNoticeAsync(notice.Id, cancellationToken).ConfigureAwait(false);
            LogGaveUp(logger, notice.Cid, notice.Attempts, failure);
            return null;
        }

        var retryAt = now + Backoff(notice.Attempts, settings.Notify.FirstRetrySeconds);
        await queue.PostponeNoticeAsync(notice.Id, retryAt, failure, cancellationToken).ConfigureAwait(false);
        LogPostponed(logger, notice.Cid, relay.Target, failure, retryAt);
        return retryAt;
    }

    /// <summary>The relay's refusal, or why it could not be reached; both null when it took the notice.</summary>
    private async Task<(SmtpReply? Refusal, string? Failure)> TrySendAsync(SenderNotice notice, CancellationToken cancellationToken)
    {
        try
        {
            return (await relay.SendAsync(notice, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Unreachable, cut off, timed out, a garbled reply: all mean "not now" for a notice.
            return (null, $"{exception.GetType().Name}: {exception.Message}");
        }
    }

    [LoggerMessage(EventId = 62, Level = LogLevel.Information, Message = "Sender notice for {Cid} handed to {Target}")]
    private static partial void LogSent(ILogger logger, string cid, string target);

    [LoggerMessage(EventId = 63, Level = LogLevel.Warning, Message = "Sender notice for {Cid} not taken by {Target}, will retry at {RetryAt:u}: {Failure}")]
    private static partial void LogPostponed(ILogger logger, string cid, string target, string failure, DateTimeOffset retryAt);

    [LoggerMessage(EventId = 64, Level = LogLevel.Warning, Message = "Sender notice for {Cid} dropped: {Target} refused it ({Reply})")]
    private static partial void LogRefused(ILogger logger, string cid, string target, string reply);

    [LoggerMessage(EventId = 65, Level = LogLevel.Warning, Message = "Sender notice for {Cid} dropped after {Attempts} attempts over three days: {Failure}")]
    private static partial void LogGaveUp(ILogger logger, string cid, int attempts, string failure);

    [LoggerMessage(EventId = 66, Level = LogLevel.Warning, Message = "Sender notices: the queue could not be read ({Error}); trying again later")]
    private static partial void LogQueueFailed(ILogger logger, string error, Exception exception);
}
