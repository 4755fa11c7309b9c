using System.Buffers;

namespace Detach.Mime;

/// <summary>
/// Pull-based decoding over another stream: one input chunk and its decoded output in memory at a time. Over a spool
/// held in memory the input is decoded where it lies, straight into the caller's buffer while the output surely
/// fits, so the attachment is not copied on its way but for a few KiB when a read has little room left
/// (BENCHMARKS.md, issue 17).
/// </summary>
internal sealed class DecodingStream : ReadOnlyStream
{
    private const int ChunkSize = 64 * 1024;

    // Pieces decoded straight into the caller's buffer are at least this much input; when less would fit, a piece of
    // this size goes through _output instead.
    private const int SmallPiece = 4 * 1024;

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

            if (DecodeInPlace(buffer, out bool handled) is > 0 and var direct)
            {
                return direct;
            }

            if (!handled)
            {
                Decode(_input.AsSpan(0, _inner.Read(_input.AsSpan(0, ChunkSize))));
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

            if (DecodeInPlace(buffer.Span, out bool handled) is > 0 and var direct)
            {
                return direct;
            }

            if (!handled)
            {
                Decode(_input.AsSpan(0, await _inner.ReadAsync(_input.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)));
            }
        }

        return Serve(buffer.Span);
    }

    /// <summary>
    /// Over a spool held in memory: decodes its pieces where they lie, straight into <paramref name="destination"/>,
    /// as long as what a piece can produce surely fits, and returns how much it wrote. When too little room is left
    /// for a worthwhile piece, a small one goes into <c>_output</c> instead (so that little waits there to be
    /// copied), as does the end. <paramref name="handled"/> is false when the input has to be read instead.
    /// </summary>
    private int DecodeInPlace(Span<byte> destination, out bool handled)
    {
        handled = false;
        if (_inner is not SpoolRange range)
        {
            return 0;
        }

        int written = 0;
        while (true)
        {
            int fits = Math.Min(ChunkSize, _decoder.MaxInputLength(destination.Length - written));
            bool direct = fits >= SmallPiece;
            if (!direct && written > 0)
            {
                return written;
            }

            if (!range.TryTake(direct ? fits : SmallPiece, out var piece))
            {
                return written;
            }

            handled = true;
            if (piece.IsEmpty || !direct)
            {
                if (written == 0)
                {
                    Decode(piece.Span); // the end (a flush), or a small piece for Serve
                }

                return written;
            }

            written += _decoder.Decode(piece.Span, destination[written..]);
        }
    }

    /// <summary>Decodes <paramref name="input"/> (empty: the end) into <c>_output</c>, for <see cref="Serve"/>.</summary>
    private void Decode(ReadOnlySpan<byte> input)
    {
        _outPos = 0;
        if (input.IsEmpty)
        {
            _outLen = _decoder.Flush(_output);
            _done = true;
        }
        else
        {
            _outLen = _decoder.Decode(input, _output);
        }
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
