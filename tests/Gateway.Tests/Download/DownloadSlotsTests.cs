using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

public class DownloadSlotsTests
{
    [Fact]
    public async Task DownloadsPastTheCapGetNoSlotUntilOneIsReleased()
    {
        using var slots = new DownloadSlots(capacity: 2, wait: TimeSpan.FromMilliseconds(50));
        var ct = TestContext.Current.CancellationToken;

        var first = await slots.TryEnterAsync(ct);
        var second = await slots.TryEnterAsync(ct);
        var third = await slots.TryEnterAsync(ct);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(third);
        Assert.Equal(2, slots.InUse);

        first.Dispose();
        first.Dispose(); // releasing twice must not free a slot that is still in use
        Assert.Equal(1, slots.InUse);
        using var fourth = await slots.TryEnterAsync(ct);
        Assert.NotNull(fourth);
        Assert.Null(await slots.TryEnterAsync(ct));
        second.Dispose();
    }

    [Fact]
    public async Task AWaitingDownloadTakesTheSlotFreedMeanwhile()
    {
        using var slots = new DownloadSlots(capacity: 1, wait: TimeSpan.FromSeconds(30));
        var ct = TestContext.Current.CancellationToken;
        var held = await slots.TryEnterAsync(ct);

        var waiting = slots.TryEnterAsync(ct);
        Assert.False(waiting.IsCompleted);
        held!.Dispose();
        using var next = await waiting;

        Assert.NotNull(next);
    }
}
