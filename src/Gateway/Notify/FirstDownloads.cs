using Detach.Vault.Index;

namespace Detach.Gateway.Notify;

/// <summary>
/// The download side of sender notices. After a download that delivered a file's last byte (a whole one, or the end
/// of a resumed one), queues its notice if the sender asked for one; the queue decides "first" in one transaction,
/// across instances. A record without an address costs nothing here (no query). Never throws and never holds a
/// download up for long: the file has been sent when this runs, and a lost notice is better than a failed download.
/// </summary>
public sealed partial class FirstDownloads(ISenderNoticeQueue queue, SenderNoticeSignal signal, TimeProvider time, ILogger<FirstDownloads> logger)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public async Task DownloadedAsync(AttachmentRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.NotifyAddress is null)
        {
            return; // not asked for, or an earlier download already queued it
        }

        try
        {
            using var timeout = new CancellationTokenSource(Patience);
            if (await queue.QueueFirstDownloadNoticeAsync(record.Cid, time.GetUtcNow(), timeout.Token).ConfigureAwait(false))
            {
                LogQueued(logger, record.Cid);
                signal.Wake();
            }
        }
        catch (Exception exception)
        {
            // The download is complete: whatever failed here must not turn it into an error.
            LogNotQueued(logger, record.Cid, exception.GetType().Name, exception);
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "First download of {Cid}: sender notice queued")]
    private static partial void LogQueued(ILogger logger, string cid);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "First download of {Cid}: the sender notice could not be queued ({Error})")]
    private static partial void LogNotQueued(ILogger logger, string cid, string error, Exception exception);
}
