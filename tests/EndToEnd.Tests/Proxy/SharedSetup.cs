namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// A setup shared by the tests of one class, started by the first test that asks for it (after that test checked
/// its peers are installed, so a missing peer skips instead of failing the fixture) and disposed with the class.
/// </summary>
public abstract class SharedSetup<T> : IAsyncLifetime
    where T : class, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private T? _value;
    private Exception? _failure;

    public async Task<T> GetAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_failure is not null)
            {
                throw new InvalidOperationException("The shared setup failed to start earlier.", _failure);
            }

            try
            {
                return _value ??= await StartAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _failure = e;
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    protected abstract Task<T> StartAsync(CancellationToken cancellationToken);

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_value is not null)
        {
            await _value.DisposeAsync();
        }

        _gate.Dispose();
    }
}
