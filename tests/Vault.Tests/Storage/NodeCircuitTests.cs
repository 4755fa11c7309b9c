using Detach.Vault.Storage;
using Detach.Vault.Tests.Index;

namespace Detach.Vault.Tests.Storage;

public sealed class NodeCircuitTests
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 12, 5, 4, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_trusted_node_is_tried_by_every_add()
    {
        var circuit = new NodeCircuit(_clock);
        using var first = circuit.TryBegin();
        using var second = circuit.TryBegin();
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.False(first.IsRetry);
        Assert.False(first.Succeeded());
        Assert.False(circuit.IsOpen);
        Assert.Null(circuit.RetryAt);
    }

    [Fact]
    public void After_a_failure_the_node_is_left_alone_for_the_pause_then_one_add_retries_it()
    {
        var circuit = new NodeCircuit(_clock);
        Assert.Equal(NodeCircuit.FirstPause, circuit.TryBegin()!.Failed());
        Assert.True(circuit.IsOpen);
        Assert.Equal(_clock.GetUtcNow() + NodeCircuit.FirstPause, circuit.RetryAt);
        Assert.Null(circuit.TryBegin());

        _clock.Advance(NodeCircuit.FirstPause - TimeSpan.FromMilliseconds(1));
        Assert.Null(circuit.TryBegin());
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        using var retry = circuit.TryBegin();
        Assert.NotNull(retry);
        Assert.True(retry.IsRetry);
        Assert.Null(circuit.TryBegin()); // one retry at a time

        Assert.True(retry.Succeeded());
        Assert.False(circuit.IsOpen);
        Assert.NotNull(circuit.TryBegin());
    }

    [Fact]
    public void Each_failed_retry_doubles_the_pause_up_to_the_longest()
    {
        var circuit = new NodeCircuit(_clock);
        var pauses = new List<TimeSpan> { circuit.TryBegin()!.Failed()!.Value };
        for (int i = 0; i < 6; i++)
        {
            _clock.Advance(pauses[^1]);
            pauses.Add(circuit.TryBegin()!.Failed()!.Value);
        }

        Assert.Equal([5, 10, 20, 40, 60, 60, 60], pauses.Select(p => p.TotalSeconds));
        Assert.Null(circuit.TryBegin());
    }

    [Fact]
    public void A_retry_without_a_verdict_lets_the_next_add_retry()
    {
        var circuit = new NodeCircuit(_clock);
        circuit.TryBegin()!.Failed();
        _clock.Advance(NodeCircuit.FirstPause);
        circuit.TryBegin()!.Dispose(); // the message's own source failed: nothing learnt about the node

        using var next = circuit.TryBegin();
        Assert.NotNull(next);
        Assert.True(next.IsRetry);
        Assert.True(circuit.IsOpen);
    }

    [Fact]
    public void Adds_that_were_already_on_their_way_do_not_extend_the_pause()
    {
        var circuit = new NodeCircuit(_clock);
        var first = circuit.TryBegin()!;
        var second = circuit.TryBegin()!;
        Assert.Equal(NodeCircuit.FirstPause, first.Failed());
        _clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Null(second.Failed());
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromSeconds(2), circuit.RetryAt);
    }
}
