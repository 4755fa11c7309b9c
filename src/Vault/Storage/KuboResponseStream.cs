using System.Net.Http;

namespace Detach.Vault.Storage;

/// <summary>
/// The body of a streamed API answer (cat). Each read must make progress within the idle timeout
/// and the whole stream within the transfer deadline; at the end the <c>X-Stream-Error</c>
/// trailer is checked, because the node can only report a failure after the status line as a
/// trailer. Transport failures surface as <see cref="KuboUnavailableException"/>.
/// </summary>
internal sealed class KuboResponseStream : ReadOnlyStream
{
    private readonly HttpResponseMessage _response;
    private readonly Stream _body;
    private readonly CancellationTokenSource _lifetime;
    private readonly TimeSpan _idleTimeout;
    private readonly Func<string, KuboException> _trailerError;
    private long _position;
    private bool _ended;

    public KuboResponseStream(HttpResponseMessage response, Stream body, CancellationTokenSource lifetime, TimeSpan idleTimeout,
        Func<string, KuboException> trailerError)
    {
        _response = response;
        _body = body;
        _lifetime = lifetime;
        _idleTimeout = idleTimeout;
        _trailerError = trailerError;
    }

    public override long Position => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        // Sync callers are rare (the gateway reads async); one pooled copy keeps a single read path.
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var n = ReadAsync(rented.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_ended || buffer.IsEmpty)
        {
            return 0;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        deadline.CancelAfter(_idleTimeout);
        int n;
        try
        {
            n = await _body.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KuboUnavailableException($"The IPFS node stopped sending after {_position} bytes.", e);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new KuboUnavailableException($"The connection to the IPFS node failed after {_position} bytes: {e.Message}", e);
        }
        if (n == 0)
        {
            _ended = true;
            if (_response.TrailingHeaders.TryGetValues("X-Stream-Error", out var values) && values.FirstOrDefault() is { Length: > 0 } error)
            {
                throw _trailerError(error);
            }
        }
        _position += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            _response.Dispose();
            _lifetime.Dispose();
        }
        base.Dispose(disposing);
    }
}
