using System.Text;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Scanning;
using Detach.Gateway.Tests.Cli;
using Detach.Scanning;
using Detach.Vault.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Scanning;

/// <summary>The scan policy through the real pipeline (rewriter, vault, local store, SQLite index) with a scripted scanner.</summary>
public sealed class ScanInspectorTests : IDisposable
{
    private readonly DataFolder _data = new();
    private readonly DetachMetrics _metrics = new();
    private readonly PrometheusExporter _exporter;

    public ScanInspectorTests() => _exporter = new PrometheusExporter(_metrics);

    public void Dispose()
    {
        _exporter.Dispose();
        _metrics.Dispose();
        _data.Dispose();
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Reads everything, then names <c>signature</c>, finds nothing (null), or fails ("down").</summary>
    private sealed class FixedScanner(string? signature) : IContentScanner
    {
        public long Seen { get; private set; }

        public string Name => "fixed scanner";

        public async Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken)
        {
            var buffer = new byte[8192];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                Seen += read;
            }

            return signature == "down" ? throw new ScannerException("clamd at tcp://127.0.0.1:1: Connection refused") : new ScanVerdict(signature, Seen, false);
        }
    }

    private sealed record Run(DetachedMessage? Message, string? Output, Exception? Error, VaultComponents Components) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (Message is not null)
            {
                await Message.DisposeAsync();
            }

            await Components.DisposeAsync();
        }
    }

    private async Task<Run> DetachAsync(string? signature, InfectedAction whenInfected = InfectedAction.Reject, ScannerDownAction whenDown = ScannerDownAction.TempFail)
    {
        var components = await VaultComponents.OpenAsync(_data.Settings(), Token);
        var options = new ScanOptions { Clamd = "tcp://127.0.0.1:3310", WhenInfected = whenInfected, WhenScannerDown = whenDown };
        var inspector = new ScanInspector(options, new FixedScanner(signature), _metrics, NullLogger<ScanInspector>.Instance);
        var detacher = new MessageDetacher(components.Vault, _data.Settings(), _metrics, NullLogger<MessageDetacher>.Instance, [inspector]);
        var message = DataFolder.MessageWith(DataFolder.RandomBytes(50_000, 7), fileName: "tool.exe", messageId: "<scan@example.com>");
        try
        {
            var prepared = await detacher.PrepareAsync(new MemoryStream(message), new MessageEnvelope("ann@example.com", 1), Token);
            var output = new MemoryStream();
            await prepared.WriteToAsync(output, Token);
            await prepared.CommitAsync(Token);
            return new Run(prepared, Encoding.UTF8.GetString(output.ToArray()), null, components);
        }
        catch (Exception e)
        {
            return new Run(null, null, e, components);
        }
    }

    private async Task<int> StoredObjectsAsync(VaultComponents components)
    {
        var count = 0;
        await foreach (var _ in components.Local.ListAsync(Token))
        {
            count++;
        }

        return count;
    }

    private string[] Lines => _exporter.Render().Split('\n');

    [Fact]
    public async Task Clean_attachments_are_stored_as_before_without_a_scan_header()
    {
        await using var run = await DetachAsync(null);

        Assert.Null(run.Error);
        Assert.Single(DataFolder.Links(run.Output!));
        Assert.DoesNotContain("X-Detach-Scan", run.Output, StringComparison.Ordinal);
        Assert.Null(Assert.Single(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token)).Warning);
        Assert.Contains("detach_scan_scanned_total 1", Lines);
        Assert.Contains("detach_scan_duration_seconds_count 1", Lines);
    }

    [Fact]
    public async Task Reject_refuses_the_message_with_554_5_7_1_naming_the_signature_and_leaves_nothing_in_store_or_index()
    {
        await using var run = await DetachAsync("Win.Test.EICAR_HDB-1");

        var refused = Assert.IsType<MessageRefusedException>(run.Error);
        Assert.Equal(554, refused.Reply.Code);
        Assert.Equal("5.7.1", refused.Reply.EnhancedCode);
        Assert.Contains("Win.Test.EICAR_HDB-1", refused.Reply.Text, StringComparison.Ordinal);
        Assert.Empty(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token));
        Assert.Equal(0, await StoredObjectsAsync(run.Components));
        Assert.Contains("detach_scan_infected_total{signature=\"Win.Test.EICAR_HDB-1\"} 1", Lines);
    }

    [Fact]
    public async Task Strip_replaces_the_part_with_a_notice_naming_the_threat_and_stores_nothing()
    {
        await using var run = await DetachAsync("Win.Test.EICAR_HDB-1", InfectedAction.Strip);

        Assert.Null(run.Error);
        Assert.Empty(DataFolder.Links(run.Output!));
        Assert.Contains("X-Detach-Scan: removed, it contains Win.Test.EICAR_HDB-1", run.Output, StringComparison.Ordinal);
        Assert.Contains("was removed from this message: removed, it contains Win.Test.EICAR_HDB-1", QuotedPrintableDecoded(run.Output!), StringComparison.Ordinal);
        Assert.Empty(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token));
        Assert.Equal(0, await StoredObjectsAsync(run.Components));
    }

    [Fact]
    public async Task Deliver_stores_and_links_it_with_a_scan_header_and_a_warning_on_its_record()
    {
        await using var run = await DetachAsync("Win.Test.EICAR_HDB-1", InfectedAction.Deliver);

        Assert.Null(run.Error);
        Assert.Single(DataFolder.Links(run.Output!));
        Assert.StartsWith("X-Detach-Scan: infected: Win.Test.EICAR_HDB-1\r\n", run.Output, StringComparison.Ordinal);
        Assert.Equal("infected: Win.Test.EICAR_HDB-1", Assert.Single(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token)).Warning);
    }

    [Fact]
    public async Task A_scanner_down_means_451_under_TempFail_and_an_unscanned_warning_under_Deliver()
    {
        await using (var run = await DetachAsync("down"))
        {
            var refused = Assert.IsType<MessageRefusedException>(run.Error);
            Assert.Equal(451, refused.Reply.Code);
            Assert.Empty(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token));
        }

        await using (var run = await DetachAsync("down", whenDown: ScannerDownAction.Deliver))
        {
            Assert.Null(run.Error);
            Assert.Contains("X-Detach-Scan: not scanned: scanner unavailable", run.Output, StringComparison.Ordinal);
            Assert.Equal("not scanned: scanner unavailable", Assert.Single(await run.Components.Index.FindByMessageIdAsync("<scan@example.com>", Token)).Warning);
        }

        Assert.Contains("detach_scan_errors_total 2", Lines);
    }

    [Fact]
    public void Names_from_mail_and_scanners_stay_printable_in_replies()
    {
        var reply = ScanInspector.Infected("Win.Test.EICAR_HDB-1\r\n250 ok");

        Assert.Contains("Win.Test.EICAR_HDB-1??250 ok", reply.Text, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', reply.Text);
    }

    private static string QuotedPrintableDecoded(string text) =>
        text.Replace("=\r\n", "", StringComparison.Ordinal).Replace("=22", "\"", StringComparison.Ordinal);
}
