using Detach.Gateway.Metrics;

namespace Detach.Gateway.Tests;

public class PrometheusExporterTests
{
    [Fact]
    public void Renders_counters_and_histograms_in_the_text_format()
    {
        using var metrics = new DetachMetrics();
        using var exporter = new PrometheusExporter(metrics);
        metrics.MessagesProcessed.Add(2);
        metrics.BytesSaved.Add(1000);
        metrics.StoreLatency.Record(0.02);
        metrics.StoreLatency.Record(3);

        var lines = exporter.Render().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("# TYPE detach_messages_processed_total counter", lines);
        Assert.Contains("detach_messages_processed_total 2", lines);
        Assert.Contains("detach_saved_bytes_total 1000", lines);
        Assert.Contains("detach_downloads_total 0", lines);
        Assert.Contains("# TYPE detach_store_duration_seconds histogram", lines);
        Assert.Contains("detach_store_duration_seconds_bucket{le=\"0.01\"} 0", lines);
        Assert.Contains("detach_store_duration_seconds_bucket{le=\"0.025\"} 1", lines);
        Assert.Contains("detach_store_duration_seconds_bucket{le=\"5\"} 2", lines);
        Assert.Contains("detach_store_duration_seconds_bucket{le=\"+Inf\"} 2", lines);
        Assert.Contains("detach_store_duration_seconds_count 2", lines);
        Assert.Contains("detach_store_duration_seconds_sum 3.02", lines);

        // Every sample line is "name value" or "name{labels} value" with a number.
        foreach (var line in lines.Where(l => !l.StartsWith('#')))
        {
            var value = line[(line.LastIndexOf(' ') + 1)..];
            Assert.True(double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out _) || value == "+Inf", line);
            Assert.Matches("^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{.*\\})? ", line);
        }
    }

    [Fact]
    public void The_node_circuit_is_a_gauge_read_at_each_scrape()
    {
        using var metrics = new DetachMetrics();
        using var exporter = new PrometheusExporter(metrics);
        bool skipped = false;
        metrics.ObserveNodeSkipped(() => skipped);

        var before = exporter.Render().Split('\n');
        skipped = true;
        var after = exporter.Render().Split('\n');

        Assert.Contains("# TYPE detach_ipfs_node_skipped gauge", before);
        Assert.Contains("detach_ipfs_node_skipped 0", before);
        Assert.Contains("detach_ipfs_node_skipped 1", after);
    }
}
