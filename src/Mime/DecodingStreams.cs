using System.Buffers;

namespace Detach.Mime;

/// <summary>
/// Pull-based decoding over another stream: one input chunk and its decoded output in memory at a time. Over a spool
/// held in memory the input is decoded where it lies, and into the caller's buffer when the chunk's output fits
/// there: a 1 MiB attachment is then copied by nobody but the decoder (measured in BENCHMARKS.md, issue 17).
/// </summary>
internal sealed class DecodingStream : ReadOnlyStream
{
    private const int ChunkSize = 64 * 1024;
    private readonly Stream _inner;
    private readonly IContentDecoder _decoder;
    private byte[]? _input;
    private byte[]? _output;
    private int _outPos;
    private int _outLen;
    private bool _done;

    public DecodingStream(Stream inner, IContentDecoder decoder)
    {
        _inner = inner;
        _decoder = decoder;
        _input = ArrayPool<byte>.Shared.Rent(ChunkSize);
        _output = ArrayPool<byte>.Shared.Rent(decoder.MaxOutputLength(ChunkSize));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_input is null, this);
        while (_outPos == _outLen)
        {
            if (_done || buffer.Length == 0)
            {
                return 0;
            }

            var input = TakeInPlace(out var inPlace) ? inPlace.Span : _input.AsSpan(0, _inner.Read(_input.AsSpan(0, ChunkSize)));
            if (Decode(input, buffer) is > 0 and var direct)
            {
                return direct;
            }
        }

        return Serve(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_input is null, this);
        while (_outPos == _outLen)
        {
            if (_done || buffer.Length == 0)
            {
                return 0;
            }

            var input = TakeInPlace(out var inPlace)
                ? inPlace
                : _input.AsMemory(0, await _inner.ReadAsync(_input.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false));
            if (Decode(input.Span, buffer.Span) is > 0 and var direct)
            {
                return direct;
            }
        }

        return Serve(buffer.Span);
    }

    /// <summary>The next input where the spool holds it in memory; false when it has to be read into <c>_input</c>.</summary>
    private bool TakeInPlace(out ReadOnlyMemory<byte> input)
    {
        input = default;
        return _inner is SpoolRange range && range.TryTake(ChunkSize, out input);
    }

    /// <summary>
    /// Decodes <paramref name="input"/> (empty: the end) straight into <paramref name="destination"/> when all it can
    /// produce fits there, returning the count; otherwise into <c>_output</c> for <see cref="Serve"/>, returning 0.
    /// </summary>
    private int Decode(ReadOnlySpan<byte> input, Span<byte> destination)
    {
        _outPos = 0;
        _outLen = 0;
        if (input.IsEmpty)
        {
            _outLen = _decoder.Flush(_output);
            _done = true;
            return 0;
        }

        if (destination.Length >= _decoder.MaxOutputLength(input.Length))
        {
            return _decoder.Decode(input, destination);
        }

        _outLen = _decoder.Decode(input, _output);
        return 0;
    }

    private int Serve(Span<byte> buffer)
    {
        int take = Math.Min(buffer.Length, _outLen - _outPos);
        _output.AsSpan(_outPos, take).CopyTo(buffer);
        _outPos += take;
        return take;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _input is not null)
        {
            ArrayPool<byte>.Shared.Return(_input);
            ArrayPool<byte>.Shared.Return(_output!);
            _input = null;
            _output = null;
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Opens the decoded body of a part as a stream over the spool.</summary>
public static class TransferDecoder
{
    /// <summary>True when bodies in this encoding can be decoded (everything but unknown encodings).</summary>
    public static bool CanDecode(TransferEncoding encoding) => encoding != TransferEncoding.Unknown;

    /// <summary>A pull-based stream decoding <paramref name="length"/> bytes of <paramref name="spool"/> from <paramref name="start"/>.</summary>
    public static Stream Open(Stream spool, long start, long length, TransferEncoding encoding) =>
        Open(PositionalRead.Over(spool), start, length, encoding);

    /// <inheritdoc cref="Open(Stream, long, long, TransferEncoding)"/>
    public static Stream Open(IPositionalRead spool, long start, long length, TransferEncoding encoding)
    {
        ArgumentNullException.ThrowIfNull(spool);
        var range = new SpoolRange(spool, start, length);
        return encoding switch
        {
            TransferEncoding.Base64 => new DecodingStream(range, new Base64Decoder()),
            TransferEncoding.QuotedPrintable => new DecodingStream(range, new QuotedPrintableDecoder()),
            TransferEncoding.UUEncode => new DecodingStream(range, new UUDecoder()),
            _ => range,
        };
    }
}
