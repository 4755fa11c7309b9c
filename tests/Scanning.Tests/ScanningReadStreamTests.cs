using System.Security.Cryptography;

namespace Detach.Scanning.Tests;

public sealed class ScanningReadStreamTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A scanner scripted by the test: reads as told, then answers.</summary>
    private sealed class ScriptedScanner(Func<Stream, CancellationToken, Task<ScanVerdict>> scan) : IContentScanner
    {
        public string Name => "scripted scanner";

        public Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken) => scan(content, cancellationToken);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, 7919, Token);
        return copy.ToArray();
    }

    [Fact]
    public async Task Reader_and_scanner_each_get_every_byte_of_one_read_of_the_source()
    {
        var content = RandomNumberGenerator.GetBytes(3 * ScanningReadStream.PipeBytes + 123);
        byte[]? scanned = null;
        var scanner = new ScriptedScanner(async (s, ct) =>
        {
            scanned = await ReadAllAsync(s);
            return new ScanVerdict(null, scanned.Length, false);
        });
        var source = new MemoryStream(content);
        ScanOutcome? seen = null;
        await using var stream = new ScanningReadStream(source, scanner, o => { seen = o; return null; }, Token);

        var read = await ReadAllAsync(stream);

        Assert.Equal(content, read);
        Assert.Equal(content, scanned);
        Assert.NotNull(seen);
        Assert.Equal(content.Length, seen.Verdict!.ScannedBytes);
    }

    [Fact]
    public async Task The_reader_sees_the_end_only_once_the_scanner_answered()
    {
        var answer = new TaskCompletionSource<ScanVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        var scanner = new ScriptedScanner(async (s, ct) =>
        {
            await ReadAllAsync(s);
            return await answer.Task.WaitAsync(ct);
        });
        await using var stream = new ScanningReadStream(new MemoryStream(new byte[1000]), scanner, _ => null, Token);
        var buffer = new byte[4096];
        Assert.Equal(1000, await stream.ReadAsync(buffer, Token));

        var end = stream.ReadAsync(buffer, Token).AsTask();
        await Task.Delay(100, Token);
        Assert.False(end.IsCompleted, "the end of the content came before the verdict");

        answer.SetResult(new ScanVerdict(null, 1000, false));
        Assert.Equal(0, await end);
    }

    [Fact]
    public async Task A_refused_verdict_makes_the_last_read_throw_and_every_read_after_it()
    {
        var scanner = new ScriptedScanner(async (s, ct) => new ScanVerdict("Test.Signature", (await ReadAllAsync(s)).Length, false));
        var refusal = new InvalidDataException("infected");
        await using var stream = new ScanningReadStream(new MemoryStream(new byte[10_000]), scanner, o => o.Verdict!.Infected ? refusal : null, Token);

        var thrown = await Assert.ThrowsAsync<InvalidDataException>(() => ReadAllAsync(stream));

        Assert.Same(refusal, thrown);
        Assert.Same(refusal, stream.Refusal);
        await Assert.ThrowsAsync<InvalidDataException>(() => stream.ReadAsync(new byte[10], Token).AsTask());
    }

    [Fact]
    public async Task A_scanner_that_stops_reading_early_does_not_hold_up_the_reader()
    {
        var content = RandomNumberGenerator.GetBytes(4 * ScanningReadStream.PipeBytes);
        var scanner = new ScriptedScanner(async (s, ct) =>
        {
            var some = new byte[1000];
            await s.ReadExactlyAsync(some, ct);
            return new ScanVerdict(null, some.Length, Truncated: true);
        });
        ScanOutcome? seen = null;
        await using var stream = new ScanningReadStream(new MemoryStream(content), scanner, o => { seen = o; return null; }, Token);

        Assert.Equal(content, await ReadAllAsync(stream));
        Assert.True(seen!.Verdict!.Truncated);
    }

    [Fact]
    public async Task A_failing_scanner_gives_a_failure_outcome_and_the_reader_still_gets_everything()
    {
        var content = RandomNumberGenerator.GetBytes(2 * ScanningReadStream.PipeBytes);
        var scanner = new ScriptedScanner(async (s, ct) =>
        {
            await s.ReadExactlyAsync(new byte[1000], ct);
            throw new IOException("connection reset");
        });
        ScanOutcome? seen = null;
        await using var stream = new ScanningReadStream(new MemoryStream(content), scanner, o => { seen = o; return null; }, Token);

        Assert.Equal(content, await ReadAllAsync(stream));
        Assert.Null(seen!.Verdict);
        Assert.Contains("connection reset", seen.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Abandoning_the_content_before_its_end_stops_the_scan()
    {
        var scanStopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scanner = new ScriptedScanner(async (s, ct) =>
        {
            try
            {
                await ReadAllAsync(s);
                await Task.Delay(Timeout.Infinite, ct);
                return new ScanVerdict(null, 0, false);
            }
            finally
            {
                scanStopped.SetResult();
            }
        });
        var stream = new ScanningReadStream(new MemoryStream(new byte[100_000]), scanner, _ => null, Token);
        await stream.ReadExactlyAsync(new byte[1000], Token);

        await stream.DisposeAsync();

        await scanStopped.Task.WaitAsync(TimeSpan.FromSeconds(30), Token);
        var outcome = await stream.Outcome.WaitAsync(TimeSpan.FromSeconds(30), Token);
        Assert.NotNull(outcome.Failure);
    }
}
