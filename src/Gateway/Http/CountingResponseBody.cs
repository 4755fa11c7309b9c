using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Detach.Gateway.Http;

/// <summary>
/// The response body as Kestrel gives it, with every byte written counted, through the stream or the pipe writer.
/// Unlike a stream wrapper behind <see cref="StreamResponseBodyFeature"/>, <see cref="Writer"/> keeps Kestrel's own
/// pipe, so a download decrypted into it is sent from where it lies.
/// </summary>
public sealed class CountingResponseBody(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
{
    private readonly CountingWriteStream _stream = new(inner.Stream);
    private readonly CountingPipeWriter _writer = new(inner.Writer);

    public long Written => _stream.Written + _writer.Written;

    public Stream Stream => _stream;

    public PipeWriter Writer => _writer;

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        inner.SendFileAsync(path, offset, count, cancellationToken);

    public Task CompleteAsync() => inner.CompleteAsync();
}
