using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Detach.Gateway.Metrics;

namespace Detach.Gateway.Tests.Download;

/// <summary>Running totals of one DetachMetrics instance's counters (other hosts in parallel tests have their own).</summary>
public sealed class MetricTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, long> _totals = new();

    public MetricTotals(DetachMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Instrument[] mine = [metrics.Downloads, metrics.DownloadBytes, metrics.FailedMacs, metrics.KeyRejections];
        Source = metrics;
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (mine.Contains(instrument))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _totals.AddOrUpdate(instrument, value, (_, old) => old + value));
        _listener.Start();
    }

    public DetachMetrics Source { get; }

    public long Downloads => Get(Source.Downloads);

    public long DownloadBytes => Get(Source.DownloadBytes);

    public long FailedMacs => Get(Source.FailedMacs);

    public long KeyRejections => Get(Source.KeyRejections);

    public void Dispose()
    {
        _listener.Dispose();
        Source.Dispose();
    }

    private long Get(Instrument instrument) => _totals.TryGetValue(instrument, out var value) ? value : 0;
}
