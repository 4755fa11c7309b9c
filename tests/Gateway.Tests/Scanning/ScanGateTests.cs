using Detach.Gateway.Metrics;
using Detach.Gateway.Scanning;
using Detach.Scanning;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Scanning;

public sealed class ScanGateTests : IDisposable
{
    private readonly DetachMetrics metrics = new();
    private readonly PrometheusExporter exporter;

    public ScanGateTests() => exporter = new PrometheusExporter(metrics);

    public void Dispose()
    {
        exporter.Dispose();
        metrics.Dispose();
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Reads everything, then answers as told (or fails when <c>signature</c> is "down").</summary>
    private sealed class FixedScanner(string? signature) : IContentScanner
    {
        public string Name => "fixed scanner";

        public async Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken)
        {
            var length = 0L;
            var buffer = new byte[8192];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                length += read;
            }

            return signature == "down" ? throw new ScannerException("clamd at tcp://127.0.0.1:1: Connection refused") : new ScanVerdict(signature, length, false);
        }
    }

    private ScanGate Gate(string? signature, InfectedAction whenInfected = InfectedAction.Reject, ScannerDownAction whenDown = ScannerDownAction.TempFail) =>
        new(new ScanOptions { Clamd = "tcp://127.0.0.1:3310", WhenInfected = whenInfected, WhenScannerDown = whenDown }, new FixedScanner(signature), metrics, NullLogger.Instance);

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Token);
        return copy.ToArray();
    }

    private string[] Lines => exporter.Render().Split('\n');

    [Fact]
    public async Task Clean_content_passes_unchanged_and_is_counted()
    {
        var content = new byte[100_000];
        Random.Shared.NextBytes(content);
        await using var watched = Gate(null).Watch("report.pdf", new MemoryStream(content), Token)!;

        Assert.Equal(content, await ReadAllAsync(watched));
        Assert.Equal(new ScanReport(null, false, false), await ScanGate.ReportAsync(watched));
        Assert.Contains("detach_scan_scanned_total 1", Lines);
        Assert.Contains("detach_scan_errors_total 0", Lines);
        Assert.Contains("detach_scan_duration_seconds_count 1", Lines);
    }

    [Theory]
    [InlineData(InfectedAction.Reject)]
    [InlineData(InfectedAction.Strip)]
    public async Task Infected_content_under_Reject_or_Strip_never_reaches_its_end(InfectedAction action)
    {
        await using var watched = Gate("Win.Test.EICAR_HDB-1", action).Watch("eicar.com", new MemoryStream(new byte[5000]), Token)!;

        var refused = await Assert.ThrowsAsync<InfectedAttachmentException>(() => ReadAllAsync(watched));

        Assert.Equal(action, refused.Action);
        Assert.Equal("Win.Test.EICAR_HDB-1", refused.Signature);
        Assert.Equal("eicar.com", refused.FileName);
        Assert.Contains("detach_scan_infected_total{signature=\"Win.Test.EICAR_HDB-1\"} 1", Lines);
    }

    [Fact]
    public async Task Infected_content_under_Deliver_is_stored_and_reported()
    {
        await using var watched = Gate("Win.Test.EICAR_HDB-1", InfectedAction.Deliver).Watch("eicar.com", new MemoryStream(new byte[5000]), Token)!;

        Assert.Equal(5000, (await ReadAllAsync(watched)).Length);
        Assert.Equal(new ScanReport("Win.Test.EICAR_HDB-1", false, false), await ScanGate.ReportAsync(watched));
    }

    [Fact]
    public async Task A_scanner_down_under_TempFail_refuses_and_under_Deliver_lets_it_through_unscanned()
    {
        await using (var watched = Gate("down").Watch("a.pdf", new MemoryStream(new byte[5000]), Token)!)
        {
            await Assert.ThrowsAsync<ScannerException>(() => ReadAllAsync(watched));
        }

        await using (var watched = Gate("down", whenDown: ScannerDownAction.Deliver).Watch("a.pdf", new MemoryStream(new byte[5000]), Token)!)
        {
            Assert.Equal(5000, (await ReadAllAsync(watched)).Length);
            Assert.Equal(new ScanReport(null, true, false), await ScanGate.ReportAsync(watched));
        }

        Assert.Contains("detach_scan_errors_total 2", Lines);
        Assert.Contains("detach_scan_scanned_total 0", Lines);
    }

    [Fact]
    public void Without_Scan_Clamd_nothing_is_watched()
    {
        var gate = new ScanGate(new ScanOptions(), metrics, NullLogger<ScanGate>.Instance);

        Assert.Null(gate.Scanner);
        Assert.Null(gate.Watch("a.pdf", new MemoryStream(), Token));
    }

    [Fact]
    public void The_sender_is_told_554_5_7_1_with_the_signature_or_451_when_the_scanner_is_down_and_names_from_mail_stay_printable()
    {
        var reply = ScanAnswers.ReplyFor(new InfectedAttachmentException("ev\r\nil.exe", "Win.Test.EICAR_HDB-1\r\n250 ok", InfectedAction.Reject))!;
        Assert.Equal(554, reply.Code);
        Assert.Equal("5.7.1", reply.EnhancedCode);
        Assert.Contains("Win.Test.EICAR_HDB-1??250 ok", reply.Text, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', reply.Text);

        Assert.Equal(451, ScanAnswers.ReplyFor(new ScannerException("down"))!.Code);
        Assert.Null(ScanAnswers.ReplyFor(new IOException("disk full")));
        Assert.Equal(77, ScanAnswers.ExitCodeFor(new InfectedAttachmentException("a", "b", InfectedAction.Reject)));
        Assert.Equal(75, ScanAnswers.ExitCodeFor(new ScannerException("down")));
    }
}
