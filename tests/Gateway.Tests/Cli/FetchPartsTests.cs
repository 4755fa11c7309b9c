using System.Net.Http.Headers;
using Detach.Gateway.Cli;
using Detach.Gateway.Fetch;

namespace Detach.Gateway.Tests.Cli;

/// <summary>The pure pieces of `detach fetch`: the saved name, the progress line, the refusal table.</summary>
public class FetchPartsTests
{
    [Theory]
    [InlineData("attachment; filename=\"report.pdf\"", "report.pdf")]
    [InlineData("attachment; filename=\"x\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026.pdf", "Résumé 2026.pdf")]
    [InlineData("attachment; filename=\"../../etc/passwd\"", "passwd")]
    [InlineData("attachment; filename=\"..\\\\..\\\\boot.ini\"", "boot.ini")]
    [InlineData("attachment; filename=\".bashrc\"", "bashrc")]
    [InlineData("attachment; filename=\"..\"", "download")]
    [InlineData("attachment; filename*=UTF-8''a%0D%0Ab%07c.txt", "a  bc.txt")]
    [InlineData("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe", "invoicefdp.exe")]
    [InlineData("attachment", "download")]
    public void The_offered_name_is_a_plain_name_in_the_folder(string header, string expected)
    {
        Assert.Equal(expected, SavedFileName.From(ContentDispositionHeaderValue.Parse(header)));
    }

    [Fact]
    public void No_disposition_gives_the_fallback_name() => Assert.Equal("download", SavedFileName.From(null));

    [Fact]
    public void The_rate_after_a_resume_counts_only_what_this_run_moved()
    {
        // 100 MB resumed at 50 MB, then a steady 10 MB/s: the line must say 10.0 MB/s and 4 s left, not a
        // rate inflated by the 50 MB already on disk.
        var clock = new SteppingClock();
        var screen = new StringWriter();
        var progress = new TransferProgress(screen, "resumed.bin", 100_000_000, 50_000_000, () => 120, clock);
        for (var i = 0; i < 6; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(100));
            progress.Advance(1_000_000);
        }

        var last = screen.ToString().Split('\r')[^1].TrimEnd();
        Assert.Matches(@"^resumed\.bin +56% \[#+\.+\] 56\.0 MB of 100 MB  10\.0 MB/s  4 s left$", last);
        Assert.True(last.Length < 120);
    }

    [Theory]
    [InlineData(40)]
    [InlineData(80)]
    [InlineData(200)]
    public void The_line_fits_the_terminal(int width)
    {
        var line = TransferProgress.Render(new string('n', 90) + ".bin", 123_456_789, 987_654_321, 12_345_678, width);
        Assert.True(line.Length <= width - 1, line);
        Assert.Contains("12%", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_length_there_is_no_bar_and_no_time_left()
    {
        var line = TransferProgress.Render("stream.bin", 5 * 1024 * 1024, null, 1024 * 1024, 80);
        Assert.Equal("stream.bin  5.2 MB  1.0 MB/s", line);
    }

    [Theory]
    [InlineData(403, "wrong_key", ExitCodes.NoPermission)]
    [InlineData(403, "missing_key", ExitCodes.NoPermission)]
    [InlineData(404, "not_found", ExitCodes.NoInput)]
    [InlineData(410, "expired", ExitCodes.Unavailable)]
    [InlineData(410, "revoked", ExitCodes.Unavailable)]
    [InlineData(410, "download_limit", ExitCodes.Unavailable)]
    [InlineData(429, "too_many_attempts", ExitCodes.TempFail)]
    [InlineData(503, "busy", ExitCodes.TempFail)]
    [InlineData(503, "storage_unavailable", ExitCodes.TempFail)]
    [InlineData(500, null, ExitCodes.TempFail)]
    [InlineData(502, null, ExitCodes.TempFail)]
    [InlineData(504, null, ExitCodes.TempFail)]
    [InlineData(400, null, ExitCodes.Protocol)]
    [InlineData(407, null, ExitCodes.Protocol)]
    [InlineData(416, null, ExitCodes.Protocol)]
    public void Every_status_has_an_exit_code(int status, string? error, int exit)
    {
        var failure = GatewayRefusal.Map(status, "files.example.com", error is null ? null : new GatewayRefusal.Problem(error, "t", "Said \u001b[2Jby the server."), null);
        Assert.Equal(exit, failure.ExitCode);
        Assert.Contains($"HTTP {status}", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', failure.Message);
    }

    private sealed class SteppingClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
