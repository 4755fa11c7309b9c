using System.Security.Cryptography;

namespace Detach.Scanning.Tests;

public sealed class ConcurrentScanTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A scanner scripted by the test.</summary>
    private sealed class ScriptedScanner(Func<Stream, CancellationToken, Task<ScanVerdict>> scan) : IContentScanner
    {
        public string Name => "scripted scanner";

        public Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken) => scan(content, cancellationToken);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, CancellationToken cancellationToken)
    {
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, 7919, cancellationToken);
        return copy.ToArray();
    }

    /// <summary>Feeds <paramref name="content"/> in uneven pieces, as a store reading records would.</summary>
    private static async Task FeedAsync(ConcurrentScan scan, byte[] content)
    {
        for (var offset = 0; offset < content.Length; offset += 65_537)
        {
            await scan.WriteAsync(content.AsMemory(offset, Math.Min(65_537, content.Length - offset)), Token);
        }
    }

    [Fact]
    public async Task The_scanner_gets_every_byte_written_while_the_writer_goes_on()
    {
        var content = RandomNumberGenerator.GetBytes(3 * ConcurrentScan.PipeBytes + 123);
        byte[]? scanned = null;
        await using var scan = new ConcurrentScan(new ScriptedScanner(async (s, cancellationToken) =>
        {
            scanned = await ReadAllAsync(s, cancellationToken);
            return new ScanVerdict(null, scanned.Length, false);
        }), Token);

        await FeedAsync(scan, content);
        var outcome = await scan.CompleteAsync(Token);

        Assert.Equal(content, scanned);
        Assert.Equal(content.Length, outcome.Verdict!.ScannedBytes);
        Assert.Null(outcome.Failure);
    }

    [Fact]
    public async Task The_outcome_comes_only_once_the_scanner_answered()
    {
        var answer = new TaskCompletionSource<ScanVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var scan = new ConcurrentScan(new ScriptedScanner(async (s, cancellationToken) =>
        {
            await ReadAllAsync(s, cancellationToken);
            return await answer.Task.WaitAsync(cancellationToken);
        }), Token);
        await scan.WriteAsync(new byte[1000], Token);

        var end = scan.CompleteAsync(Token);
        await Task.Delay(100, Token);
        Assert.False(end.IsCompleted, "the outcome came before the scanner answered");

        answer.SetResult(new ScanVerdict("Test.Signature", 1000, false));
        Assert.Equal("Test.Signature", (await end).Verdict!.Signature);
    }

    [Fact]
    public async Task A_scanner_that_stops_reading_early_does_not_hold_up_the_writer()
    {
        await using var scan = new ConcurrentScan(new ScriptedScanner(async (s, cancellationToken) =>
        {
            await s.ReadExactlyAsync(new byte[1000], cancellationToken);
            return new ScanVerdict(null, 1000, Truncated: true);
        }), Token);

        await FeedAsync(scan, RandomNumberGenerator.GetBytes(4 * ConcurrentScan.PipeBytes));

        Assert.True((await scan.CompleteAsync(Token)).Verdict!.Truncated);
    }

    [Fact]
    public async Task A_failing_scanner_gives_a_failure_outcome_and_the_writer_goes_on()
    {
        await using var scan = new ConcurrentScan(new ScriptedScanner(async (s, cancellationToken) =>
        {
            await s.ReadExactlyAsync(new byte[1000], cancellationToken);
            throw new IOException("connection reset");
        }), Token);

        await FeedAsync(scan, RandomNumberGenerator.GetBytes(2 * ConcurrentScan.PipeBytes));
        var outcome = await scan.CompleteAsync(Token);

        Assert.Null(outcome.Verdict);
        Assert.Contains("connection reset", outcome.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_before_the_end_stops_the_scan()
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scan = new ConcurrentScan(new ScriptedScanner(async (s, cancellationToken) =>
        {
            try
            {
                await ReadAllAsync(s, cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return new ScanVerdict(null, 0, false);
            }
            finally
            {
                stopped.SetResult();
            }
        }), Token);
        await scan.WriteAsync(new byte[1000], Token);

        await scan.DisposeAsync();

        Assert.True(stopped.Task.IsCompleted);
    }
}
