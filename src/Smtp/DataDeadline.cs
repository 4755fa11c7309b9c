namespace Detach.Smtp;

/// <summary>
/// How long receiving one message may wait for the client, as Postfix's smtpd_per_request_deadline with
/// smtpd_min_data_rate: the budget starts at the timeout, every wait for the client uses it up, and every byte that
/// arrives gives back 1/minimum-rate of a second, never above the timeout. A client that stops is cut after the
/// timeout, one that trickles slower than the minimum rate (slowloris) a little later, one that keeps the rate never.
/// Only waits for the client count: time the backend takes between reads is not the client's.
/// </summary>
public sealed class DataDeadline
{
    private readonly TimeSpan _timeout;
    private readonly int _minBytesPerSecond;
    private TimeSpan _budget;

    /// <param name="timeout">The budget, and the longest single wait.</param>
    /// <param name="minBytesPerSecond">0: no minimum rate, every read that brings bytes restores the whole budget.</param>
    public DataDeadline(TimeSpan timeout, int minBytesPerSecond = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(minBytesPerSecond);
        _timeout = timeout;
        _minBytesPerSecond = minBytesPerSecond;
        _budget = timeout;
    }

    /// <summary>The longest the next wait for the client may last; zero once the budget is used up.</summary>
    public TimeSpan Remaining => _budget > TimeSpan.Zero ? _budget : TimeSpan.Zero;

    public bool IsExpired => _budget <= TimeSpan.Zero;

    /// <summary>Records one wait for the client: how long it lasted and how many bytes it brought.</summary>
    public void Record(TimeSpan waited, long bytes)
    {
        _budget -= waited;
        if (bytes > 0)
        {
            TimeSpan credit = _minBytesPerSecond == 0 ? _timeout : TimeSpan.FromSeconds(bytes / (double)_minBytesPerSecond);
            _budget = _budget + credit < _timeout ? _budget + credit : _timeout;
        }
    }
}
