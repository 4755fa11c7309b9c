using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Detach.Gateway.Metrics;

/// <summary>
/// Listens to the instruments of one <see cref="DetachMetrics"/> and renders their running totals
/// in the Prometheus text exposition format (version 0.0.4). prometheus-net's adapter and OpenTelemetry's
/// (pre-release) exporter change names, types or which series exist: docs/dependencies.md has the comparison.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Series> _series = new();

    public PrometheusExporter(DetachMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        _listener.InstrumentPublished = (instrument, l) =>
        {
            // The same meter object, not the same name: every host in a process has a "Detach" meter.
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                _series[instrument] = instrument switch
                {
                    Histogram<double> or Histogram<long> => new HistogramSeries(instrument),
                    ObservableGauge<int> or ObservableGauge<long> or ObservableGauge<double> => new GaugeSeries(instrument),
                    _ => new CounterSeries(instrument),
                };
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public string Render()
    {
        _listener.RecordObservableInstruments(); // gauges are read now, not pushed
        var text = new StringBuilder();
        foreach (var item in _series.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            item.Render(text);
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_series.TryGetValue(instrument, out var s))
        {
            s.Record(value, LabelText(tags));
        }
    }

    private static string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return "";
        }

        var pairs = new List<string>(tags.Length);
        foreach (var tag in tags)
        {
            pairs.Add($"{MetricName(tag.Key)}=\"{EscapeLabel(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")}\"");
        }

        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    internal static string MetricName(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return builder.ToString();
    }

    private static string EscapeLabel(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string WithLabels(string labels, string extra) =>
        (labels.Length, extra.Length) switch
        {
            (0, 0) => "",
            (0, _) => "{" + extra + "}",
            (_, 0) => "{" + labels + "}",
            _ => "{" + labels + "," + extra + "}",
        };

    private abstract class Series(Instrument instrument)
    {
        public string Name { get; } = MetricName(instrument.Name) + (instrument.Unit == "seconds" ? "_seconds" : instrument.Unit == "bytes" && !instrument.Name.EndsWith("bytes", StringComparison.Ordinal) ? "_bytes" : "");

        protected string Help { get; } = (instrument.Description ?? instrument.Name).Replace("\n", " ", StringComparison.Ordinal);

        public abstract void Record(double value, string labels);

        public abstract void Render(StringBuilder text);

        /// <summary>The HELP and TYPE lines that precede a metric's samples.</summary>
        protected void AppendHeader(StringBuilder text, string name, string type) =>
            text.Append("# HELP ").Append(name).Append(' ').Append(Help).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    private sealed class CounterSeries(Instrument instrument) : Series(instrument)
    {
        private readonly ConcurrentDictionary<string, double> _totals = new(StringComparer.Ordinal);

        public override void Record(double value, string labels) => _totals.AddOrUpdate(labels, value, (_, old) => old + value);

        public override void Render(StringBuilder text)
        {
            var name = Name + "_total";
            AppendHeader(text, name, "counter");
            if (_totals.IsEmpty)
            {
                text.Append(name).Append(" 0\n");
            }

            foreach (var (labels, value) in _totals.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                text.Append(name).Append(WithLabels(labels, "")).Append(' ').Append(Format(value)).Append('\n');
            }
        }
    }

    /// <summary>The value last read, per label set.</summary>
    private sealed class GaugeSeries(Instrument instrument) : Series(instrument)
    {
        private readonly ConcurrentDictionary<string, double> _values = new(StringComparer.Ordinal);

        public override void Record(double value, string labels) => _values[labels] = value;

        public override void Render(StringBuilder text)
        {
            AppendHeader(text, Name, "gauge");
            foreach (var (labels, value) in _values.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                text.Append(Name).Append(WithLabels(labels, "")).Append(' ').Append(Format(value)).Append('\n');
            }
        }
    }

    private sealed class HistogramSeries : Series
    {
        private readonly double[] _bounds;
        private readonly ConcurrentDictionary<string, Buckets> _data = new(StringComparer.Ordinal);

        public HistogramSeries(Instrument instrument)
            : base(instrument)
        {
            _bounds = instrument is Histogram<double> { Advice.HistogramBucketBoundaries: { } advised } ? [.. advised] : DefaultBuckets;
        }

        public override void Record(double value, string labels) =>
            _data.GetOrAdd(labels, _ => new Buckets(_bounds.Length)).Add(_bounds, value);

        public override void Render(StringBuilder text)
        {
            AppendHeader(text, Name, "histogram");
            var all = _data.IsEmpty ? [new KeyValuePair<string, Buckets>("", new Buckets(_bounds.Length))] : _data.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
            foreach (var (labels, buckets) in all)
            {
                var (counts, sum, count) = buckets.Snapshot();
                long cumulative = 0;
                for (var i = 0; i < _bounds.Length; i++)
                {
                    cumulative += counts[i];
                    text.Append(Name).Append("_bucket").Append(WithLabels(labels, $"le=\"{Format(_bounds[i])}\"")).Append(' ').Append(cumulative).Append('\n');
                }

                text.Append(Name).Append("_bucket").Append(WithLabels(labels, "le=\"+Inf\"")).Append(' ').Append(count).Append('\n');
                text.Append(Name).Append("_sum").Append(WithLabels(labels, "")).Append(' ').Append(Format(sum)).Append('\n');
                text.Append(Name).Append("_count").Append(WithLabels(labels, "")).Append(' ').Append(count).Append('\n');
            }
        }
    }

    private sealed class Buckets(int size)
    {
        private readonly long[] _counts = new long[size];
        private double _sum;
        private long _count;

        public void Add(double[] bounds, double value)
        {
            lock (this)
            {
                var index = Array.FindIndex(bounds, b => value <= b);
                if (index >= 0)
                {
                    _counts[index]++;
                }

                _sum += value;
                _count++;
            }
        }

        public (long[] Counts, double Sum, long Count) Snapshot()
        {
            lock (this)
            {
                return ((long[])_counts.Clone(), _sum, _count);
            }
        }
    }
}
