using Detach.Gateway.Configuration;
using Detach.Gateway.Scanning;
using Microsoft.Extensions.Configuration;

namespace Detach.Gateway.Tests.Scanning;

public sealed class ScanOptionsTests
{
    private static DetachSettings Load(params (string Key, string Value)[] pairs) =>
        DetachSettings.Load(new ConfigurationBuilder()
            .AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)))
            .Build());

    [Fact]
    public void Defaults_scan_nothing_and_would_reject_infected_mail_and_retry_when_the_scanner_is_down()
    {
        var scan = Load().Scan;

        Assert.Null(scan.Endpoint());
        Assert.Equal(InfectedAction.Reject, scan.WhenInfected);
        Assert.Equal(ScannerDownAction.TempFail, scan.WhenScannerDown);
        Assert.Equal(30, scan.TimeoutSeconds);
        Assert.Equal(25 * 1024 * 1024, scan.MaxStreamBytes);
    }

    [Fact]
    public void Every_setting_binds()
    {
        var scan = Load(("Scan:Clamd", "unix:/run/clamav/clamd.ctl"), ("Scan:WhenInfected", "Strip"), ("Scan:WhenScannerDown", "Deliver"),
            ("Scan:TimeoutSeconds", "10"), ("Scan:MaxStreamBytes", "104857600")).Scan;

        Assert.Equal("unix:/run/clamav/clamd.ctl", scan.Endpoint()!.Text);
        Assert.Equal(InfectedAction.Strip, scan.WhenInfected);
        Assert.Equal(ScannerDownAction.Deliver, scan.WhenScannerDown);
        Assert.Equal(10, scan.TimeoutSeconds);
        Assert.Equal(100 * 1024 * 1024, scan.MaxStreamBytes);
    }

    [Theory]
    [InlineData("Scan:Clamd", "127.0.0.1:3310", "Scan:Clamd")]
    [InlineData("Scan:Clamd", "unix:clamd.ctl", "Scan:Clamd")]
    [InlineData("Scan:TimeoutSeconds", "0", "Scan:TimeoutSeconds")]
    [InlineData("Scan:TimeoutSeconds", "601", "Scan:TimeoutSeconds")]
    [InlineData("Scan:MaxStreamBytes", "1000", "Scan:MaxStreamBytes")]
    [InlineData("Scan:MaxStreamBytes", "4294967296", "Scan:MaxStreamBytes")]
    [InlineData("Scan:WhenInfected", "Quarantine", "Scan")]
    [InlineData("Scan:WhenScannerDown", "Ignore", "Scan")]
    public void A_bad_value_stops_start_up_with_a_message_naming_the_key(string key, string value, string named)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load((key, value)));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }
}
