using System.Buffers;

namespace Detach.Crypto;

/// <summary>
/// Read-only stream of ciphertext: wraps a plaintext stream and encrypts it one record at a time as it
/// is read, so a store can pull ciphertext straight from it. One record (plus one byte of look-ahead)
/// is buffered; a record is only flagged last once the plaintext source has reported end of stream.
/// </summary>
public sealed class RecordEncryptingStream : Stream
{
    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly RecordCipher _cipher;
    private readonly long _length = -1;
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private long _nextRecord;
    private bool _finished;
    private bool _faulted;
    private bool _hasLookahead;
    private byte _lookahead;
    private long _position;

    /// <summary>Encrypts <paramref name="plaintext"/> under <paramref name="key"/> with a fresh random salt.</summary>
    public RecordEncryptingStream(Stream plaintext, FileKey key, bool leaveOpen = false)
        : this(plaintext, key, default, leaveOpen)
    {
    }

    /// <summary>Test hook: a fixed salt reproduces the vectors of docs/format.md. Never reuse a salt in production.</summary>
    internal RecordEncryptingStream(Stream plaintext, FileKey key, ReadOnlySpan<byte> salt, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(key);
        if (!plaintext.CanRead)
        {
            throw new ArgumentException("The plaintext stream must be readable.", nameof(plaintext));
        }

        _source = plaintext;
        _leaveOpen = leaveOpen;
        Span<byte> header = stackalloc byte[RecordFormat.HeaderSize];
        RecordHeader.Write(header, salt);
        _cipher = new RecordCipher(key, header);
        if (plaintext.CanSeek)
        {
            _length = RecordFormat.GetCiphertextLength(plaintext.Length - plaintext.Position);
        }

        _buffer = ArrayPool<byte>.Shared.Rent(RecordFormat.HeaderSize + RecordFormat.EncryptedRecordSize);
        // The header goes out together with record 0, from the front of the same buffer.
        header.CopyTo(_buffer);
    }

    public override bool CanRead => _buffer is not null;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    /// <summary>The ciphertext length, known only when the plaintext stream is seekable.</summary>
    public override long Length => _length >= 0 ? _length : throw new NotSupportedException("The ciphertext length is known only for a seekable plaintext stream.");

    /// <summary>Ciphertext bytes returned so far.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        // A chunk is empty only once everything has been returned: a sealed record is never empty.
        return Take(NextChunk().Span, buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var chunk = await NextChunkAsync(cancellationToken).ConfigureAwait(false);
        return Take(chunk.Span, buffer.Span);
    }

    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        while (true)
        {
            var chunk = await NextChunkAsync(cancellationToken).ConfigureAwait(false);
            if (chunk.IsEmpty && _finished)
            {
                return;
            }

            await destination.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            _position += chunk.Length;
            _start = _end;
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer is { } buffer)
        {
            _buffer = null;
            _cipher.Dispose();
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            if (!_leaveOpen)
            {
                _source.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private int Take(ReadOnlySpan<byte> pending, Span<byte> destination)
    {
        int n = Math.Min(pending.Length, destination.Length);
        pending[..n].CopyTo(destination);
        _start += n;
        _position += n;
        return n;
    }

    /// <summary>The ciphertext not yet handed out, sealing the next record first if none is left.</summary>
    private ReadOnlyMemory<byte> NextChunk()
    {
        if (TryGetPending(out var pending))
        {
            return pending;
        }

        var target = BeginRecord(out int filled);
        try
        {
            while (filled < target.Length)
            {
                int n = _source.Read(target.Span[filled..]);
                if (n == 0)
                {
                    break;
                }

                filled += n;
            }
        }
        catch
        {
            _faulted = true;
            throw;
        }

        return EndRecord(filled);
    }

    private async ValueTask<ReadOnlyMemory<byte>> NextChunkAsync(CancellationToken cancellationToken)
    {
        if (TryGetPending(out var pending))
        {
            return pending;
        }

        var target = BeginRecord(out int filled);
        try
        {
            while (filled < target.Length)
            {
                int n = await _source.ReadAsync(target[filled..], cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                filled += n;
            }
        }
        catch
        {
            _faulted = true;
            throw;
        }

        return EndRecord(filled);
    }

    // Ciphertext still to hand out, or, once finished, the empty remainder.
    private bool TryGetPending(out ReadOnlyMemory<byte> pending)
    {
        var buffer = _buffer;
        ObjectDisposedException.ThrowIf(buffer is null, this);
        if (_faulted)
        {
            throw new InvalidOperationException("A previous read of the plaintext failed; the ciphertext is incomplete.");
        }

        pending = buffer.AsMemory(_start, _end - _start);
        return _start < _end || _finished;
    }

    // Where the next record's plaintext goes: one byte more than a record, because only a byte
    // beyond it proves this record is not the last. The header, before record 0, stays in front.
    private Memory<byte> BeginRecord(out int filled)
    {
        int recordStart = _nextRecord == 0 ? RecordFormat.HeaderSize : 0;
        _start = 0;
        var target = _buffer.AsMemory(recordStart, RecordFormat.RecordSize + 1);
        filled = 0;
        if (_hasLookahead)
        {
            target.Span[0] = _lookahead;
            filled = 1;
            _hasLookahead = false;
        }

        return target;
    }

    private ReadOnlyMemory<byte> EndRecord(int filled)
    {
        var buffer = _buffer!;
        int recordStart = _nextRecord == 0 ? RecordFormat.HeaderSize : 0;
        bool last = filled <= RecordFormat.RecordSize;
        int length = last ? filled : RecordFormat.RecordSize;
        if (!last)
        {
            _lookahead = buffer[recordStart + RecordFormat.RecordSize];
            _hasLookahead = true;
        }

        _cipher.Seal(buffer.AsSpan(recordStart), length, _nextRecord, last);
        _nextRecord++;
        _finished = last;
        _end = recordStart + length + RecordFormat.TagSize;
        return buffer.AsMemory(0, _end);
    }
}
