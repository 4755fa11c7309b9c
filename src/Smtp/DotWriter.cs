using System.Buffers;
using System.IO.Pipelines;

namespace Detach.Smtp;

/// <summary>
/// Writes a message for DATA: turns a bare LF into CRLF and doubles a dot after any CR or LF (so no next hop, whatever
/// it takes for a line end, finds the end of data where we did not: SMTP smuggling) and, in <see cref="CompleteAsync"/>, ends
/// the last line if needed and writes ".\r\n". Nothing marks the end of data until CompleteAsync: a
/// writer abandoned half way never produces an accepted message.
/// </summary>
internal sealed class DotWriter : WriteOnlyStream
{
    /// <summary>Octets that may wait in the pipe before <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> sends them.</summary>
    public const int FlushThreshold = 64 * 1024;

    private const int SliceSize = 16 * 1024;
    private static readonly byte[] Terminator = ".\r\n"u8.ToArray();
    private readonly PipeWriter _output;
    private bool _lineStart = true;
    private bool _afterCr;
    private bool _completed;

    public DotWriter(PipeWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>Message octets received (before stuffing).</summary>
    public long BytesWritten { get; private set; }

    public override bool CanWrite => !_completed;

    /// <summary>Stuffs <paramref name="data"/> into the pipe without flushing.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        BytesWritten += data.Length;

        // In slices, so one large write never asks the pipe for a segment twice its size.
        while (!data.IsEmpty)
        {
            ReadOnlySpan<byte> slice = data[..Math.Min(data.Length, SliceSize)];
            Span<byte> span = _output.GetSpan(LineEnds.MaxOutput(slice.Length));
            _output.Advance(LineEnds.Normalise(slice, span, ref _afterCr, ref _lineStart, stuffDots: true));
            data = data[slice.Length..];
        }
    }

    /// <summary>
    /// Stuffs <paramref name="buffer"/> and sends once <see cref="FlushThreshold"/> octets wait: a small message
    /// leaves in one packet with its final dot (<see cref="CompleteAsync"/>), not in two.
    /// </summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Append(buffer.Span);
        if (_output.CanGetUnflushedBytes && _output.UnflushedBytes < FlushThreshold)
        {
            return;
        }

        FlushResult result = await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
        {
            throw new IOException("The connection closed while sending the message.");
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer) => Append(buffer);

    /// <summary>Ends the last line when the message did not, writes the final dot line and flushes.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        WriteRaw(LineEnds.LastLineEnding(_afterCr, _lineStart));
        WriteRaw(Terminator);
        _completed = true;
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (!bytes.IsEmpty)
        {
            _output.Write(bytes);
        }
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _output.FlushAsync(cancellationToken).AsTask();
}
