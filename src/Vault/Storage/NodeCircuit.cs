namespace Detach.Vault.Storage;

/// <summary>
/// Whether an add should go to the node, once the node has failed one. After a failure the node is left alone for a
/// pause (5 s, doubled after each failed retry, at most a minute): adds go straight to the spool, or fail at once
/// when the spool is off. Then one add at a time tries the node again; the first add the node takes closes the
/// circuit. Without it a hung node held every attachment for the whole stall timeout before it was spooled, so a
/// message with several attachments ran past the MTA's proxy timeout and was refused (the soak run found it).
/// Thread-safe.
/// </summary>
public sealed class NodeCircuit(TimeProvider? timeProvider = null)
{
    public static readonly TimeSpan FirstPause = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan LongestPause = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private TimeSpan _pause; // zero while the node is trusted
    private DateTimeOffset _retryAt;
    private bool _retryUnderWay;

    /// <summary>True while adds leave the node alone (or only one tries it).</summary>
    public bool IsOpen
    {
        get
        {
            lock (_lock)
            {
                return _pause > TimeSpan.Zero;
            }
        }
    }

    /// <summary>When the node is tried again; null while it is trusted.</summary>
    public DateTimeOffset? RetryAt
    {
        get
        {
            lock (_lock)
            {
                return _pause > TimeSpan.Zero ? _retryAt : null;
            }
        }
    }

    /// <summary>
    /// An attempt on the node, to be ended with <see cref="NodeAttempt.Succeeded"/> or <see cref="NodeAttempt.Failed"/>
    /// (disposing it without either leaves the circuit as it was); null when the node is to be left alone now.
    /// </summary>
    public NodeAttempt? TryBegin()
    {
        lock (_lock)
        {
            if (_pause == TimeSpan.Zero)
            {
                return new NodeAttempt(this, isRetry: false);
            }

            if (_retryUnderWay || _time.GetUtcNow() < _retryAt)
            {
                return null;
            }

            _retryUnderWay = true;
            return new NodeAttempt(this, isRetry: true);
        }
    }

    /// <returns>True when the circuit was open until now.</returns>
    internal bool Close(bool isRetry)
    {
        lock (_lock)
        {
            _retryUnderWay &= !isRetry;
            bool wasOpen = _pause > TimeSpan.Zero;
            _pause = TimeSpan.Zero;
            return wasOpen;
        }
    }

    /// <returns>The new pause, or null when another failure had already opened the circuit.</returns>
    internal TimeSpan? Open(bool isRetry)
    {
        lock (_lock)
        {
            if (!isRetry && _pause > TimeSpan.Zero)
            {
                return null; // concurrent adds that were already on their way
            }

            _retryUnderWay &= !isRetry;
            _pause = _pause == TimeSpan.Zero ? FirstPause : TimeSpan.FromTicks(Math.Min(_pause.Ticks * 2, LongestPause.Ticks));
            _retryAt = _time.GetUtcNow() + _pause;
            return _pause;
        }
    }

    internal void Abandon(bool isRetry)
    {
        lock (_lock)
        {
            _retryUnderWay &= !isRetry;
        }
    }
}

/// <summary>One add's try of the node; see <see cref="NodeCircuit.TryBegin"/>.</summary>
public sealed class NodeAttempt : IDisposable
{
    private readonly NodeCircuit _circuit;
    private bool _ended;

    internal NodeAttempt(NodeCircuit circuit, bool isRetry)
    {
        _circuit = circuit;
        IsRetry = isRetry;
    }

    /// <summary>True when this add tries the node after a pause.</summary>
    public bool IsRetry { get; }

    /// <summary>The node took the add. Returns true when that closed the circuit (the node is back).</summary>
    public bool Succeeded()
    {
        _ended = true;
        return _circuit.Close(IsRetry);
    }

    /// <summary>The node could not take the add. Returns the pause now begun, or null if one was already running.</summary>
    public TimeSpan? Failed()
    {
        _ended = true;
        return _circuit.Open(IsRetry);
    }

    /// <summary>Ends an attempt that had no verdict on the node (the source failed, or the add was cancelled).</summary>
    public void Dispose()
    {
        if (!_ended)
        {
            _ended = true;
            _circuit.Abandon(IsRetry);
        }
    }
}
