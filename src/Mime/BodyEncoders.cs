using System.Buffers;
using System.Buffers.Text;

namespace Detach.Mime;

/// <summary>Streaming transfer encoder for re-encoding a text body after the notice is inserted.</summary>
internal abstract class BodyEncoder
{
    protected BodyEncoder(Stream output, string lineEnding)
    {
        Output = output;
        LineEnding = System.Text.Encoding.ASCII.GetBytes(lineEnding);
    }

    protected Stream Output { get; }

    protected byte[] LineEnding { get; }

    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Writes what is pending; the encoded body then ends without a line ending unless <paramref name="finalLineEnding"/>.</summary>
    public abstract ValueTask CompleteAsync(bool finalLineEnding, CancellationToken cancellationToken);

    public static BodyEncoder Create(TransferEncoding encoding, Stream output, string lineEnding) => encoding switch
    {
        TransferEncoding.Base64 => new Base64BodyEncoder(output, lineEnding),
        TransferEncoding.QuotedPrintable => new QuotedPrintableBodyEncoder(output, lineEnding),
        _ => new IdentityBodyEncoder(output, lineEnding),
    };
}

internal sealed class IdentityBodyEncoder(Stream output, string lineEnding) : BodyEncoder(output, lineEnding)
{
    private bool _endsWithLineFeed = true;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.Length > 0)
        {
            _endsWithLineFeed = data.Span[^1] == '\n';
        }

        return Output.WriteAsync(data, cancellationToken);
    }

    public override ValueTask CompleteAsync(bool finalLineEnding, CancellationToken cancellationToken) =>
        finalLineEnding && !_endsWithLineFeed ? Output.WriteAsync(LineEnding, cancellationToken) : ValueTask.CompletedTask;
}

/// <summary>Base64 in 76-character lines.</summary>
internal sealed class Base64BodyEncoder(Stream output, string lineEnding) : BodyEncoder(output, lineEnding)
{
    private const int BytesPerLine = 57;
    private readonly byte[] _pending = new byte[BytesPerLine];
    private int _pendingCount;
    private readonly byte[] _out = new byte[64 * 1024];
    private int _outCount;
    private bool _anyLine;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (data.Length > 0)
        {
            int take = Math.Min(BytesPerLine - _pendingCount, data.Length);
            data.Span[..take].CopyTo(_pending.AsSpan(_pendingCount));
            _pendingCount += take;
            data = data[take..];
            if (_pendingCount == BytesPerLine)
            {
                EmitLine();
                if (_outCount > _out.Length - 200)
                {
                    await FlushOutAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private void EmitLine()
    {
        if (_anyLine)
        {
            LineEnding.CopyTo(_out.AsSpan(_outCount));
            _outCount += LineEnding.Length;
        }
        Base64.EncodeToUtf8(_pending.AsSpan(0, _pendingCount), _out.AsSpan(_outCount), out _, out int written);
        _outCount += written;
        _pendingCount = 0;
        _anyLine = true;
    }

    private async ValueTask FlushOutAsync(CancellationToken cancellationToken)
    {
        await Output.WriteAsync(_out.AsMemory(0, _outCount), cancellationToken).ConfigureAwait(false);
        _outCount = 0;
    }

    public override async ValueTask CompleteAsync(bool finalLineEnding, CancellationToken cancellationToken)
    {
        if (_pendingCount > 0)
        {
            EmitLine();
        }

        if (finalLineEnding && _anyLine)
        {
            LineEnding.CopyTo(_out.AsSpan(_outCount));
            _outCount += LineEnding.Length;
        }
        await FlushOutAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// Quoted-printable with lines of at most 76 characters. Hard line breaks are written as they came in the
/// decoded text (CRLF or LF), so decoding the result gives back the same bytes; soft breaks use the part's ending.
/// </summary>
internal sealed class QuotedPrintableBodyEncoder(Stream output, string lineEnding) : BodyEncoder(output, lineEnding)
{
    private const int MaxLine = 76;
    private readonly byte[] _out = new byte[64 * 1024];
    private int _outCount;
    private int _lineLength;
    private int _pendingBlank = -1; // a space or tab not yet known to be followed by more text
    private bool _pendingCr;
    private bool _endsWithLineBreak;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (_outCount > _out.Length - 64)
            {
                await FlushOutAsync(cancellationToken).ConfigureAwait(false);
            }
            Encode(data.Span[i]);
        }
    }

    private void Encode(byte b)
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            if (b == '\n')
            {
                HardBreak("\r\n"u8);
                return;
            }
            // A blank before the CR comes first (an escaped CR is more text on the line, so the blank stays plain).
            FlushBlank(escape: false);
            Token(0x0D, escape: true);
        }
        if (b == '\r')
        {
            _pendingCr = true;
            return;
        }
        if (b == '\n')
        {
            HardBreak("\n"u8);
            return;
        }
        _endsWithLineBreak = false;
        if (b is (byte)' ' or (byte)'\t')
        {
            FlushBlank(escape: false);
            _pendingBlank = b;
            return;
        }
        FlushBlank(escape: false);
        Token(b, escape: b is < 33 or > 126 or (byte)'=');
    }

    private void HardBreak(ReadOnlySpan<byte> lineBreak)
    {
        FlushBlank(escape: true); // blanks before a line break would be stripped in transport
        lineBreak.CopyTo(_out.AsSpan(_outCount));
        _outCount += lineBreak.Length;
        _lineLength = 0;
        _endsWithLineBreak = true;
    }

    private void FlushBlank(bool escape)
    {
        if (_pendingBlank < 0)
        {
            return;
        }

        byte blank = (byte)_pendingBlank;
        _pendingBlank = -1;
        Token(blank, escape);
    }

    private void Token(byte b, bool escape)
    {
        int length = escape ? 3 : 1;
        if (_lineLength + length > MaxLine - 1)
        {
            _out[_outCount++] = (byte)'=';
            LineEnding.CopyTo(_out.AsSpan(_outCount));
            _outCount += LineEnding.Length;
            _lineLength = 0;
        }
        if (escape)
        {
            _out[_outCount++] = (byte)'=';
            _out[_outCount++] = (byte)"0123456789ABCDEF"[b >> 4];
            _out[_outCount++] = (byte)"0123456789ABCDEF"[b & 15];
        }
        else
        {
            _out[_outCount++] = b;
        }
        _lineLength += length;
    }

    private async ValueTask FlushOutAsync(CancellationToken cancellationToken)
    {
        await Output.WriteAsync(_out.AsMemory(0, _outCount), cancellationToken).ConfigureAwait(false);
        _outCount = 0;
    }

    public override async ValueTask CompleteAsync(bool finalLineEnding, CancellationToken cancellationToken)
    {
        Complete(finalLineEnding);
        await FlushOutAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Complete(bool finalLineEnding)
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            FlushBlank(escape: false);
            Token(0x0D, escape: true);
            _endsWithLineBreak = false;
        }
        FlushBlank(escape: true);
        if (finalLineEnding && !_endsWithLineBreak)
        {
            // A soft break: the line ending the boundary needs must not become a line break in the text (found by
            // fuzzing: a body that ended in a soft break gained a newline when the notice was put in).
            _out[_outCount++] = (byte)'=';
            LineEnding.CopyTo(_out.AsSpan(_outCount));
            _outCount += LineEnding.Length;
        }
    }

    /// <summary>Encodes a small text at once (the generated notice part).</summary>
    public static byte[] EncodeAll(ReadOnlySpan<byte> data, string lineEnding)
    {
        using var ms = new MemoryStream();
        var encoder = new QuotedPrintableBodyEncoder(ms, lineEnding);
        foreach (byte b in data)
        {
            if (encoder._outCount > encoder._out.Length - 64)
            {
                ms.Write(encoder._out, 0, encoder._outCount);
                encoder._outCount = 0;
            }
            encoder.Encode(b);
        }
        encoder.Complete(false);
        ms.Write(encoder._out, 0, encoder._outCount);
        return ms.ToArray();
    }
}
