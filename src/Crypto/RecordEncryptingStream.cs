using System.Buffers;

namespace Detach.Crypto;

/// <summary>
/// Read-only stream of ciphertext: wraps a plaintext stream and encrypts it one record at a time as it
/// is read, so a store can pull ciphertext straight from it. One record (plus one byte of look-ahead)
/// is buffered; a record is only flagged last once the plaintext source has reported end of stream.
/// </summary>
/// <remarks>
/// The keys are derived in the constructor, so the <see cref="FileKey"/> may be disposed right after.
/// A read into a buffer of at least <see cref="RecordFormat.HeaderSize"/> +
/// <see cref="RecordFormat.EncryptedRecordSize"/> bytes at a record boundary gets a whole sealed record,
/// encrypted in that buffer without an extra copy (<c>Stream.CopyToAsync</c>'s 80 KiB buffer qualifies).
/// Ciphertext length is known up front (<see cref="Length"/>) when the plaintext stream is seekable.
/// </remarks>
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
        if (buffer.IsEmpty || HasPendingOrFinished())
        {
            return Take(buffer);
        }

        // A caller's buffer that holds a whole sealed record gets it directly, saving a copy.
        if (buffer.Length >= RecordSpace)
        {
            int sealedLength = SealInto(buffer);
            _position += sealedLength;
            return sealedLength;
        }

        _start = 0;
        _end = SealInto(_buffer);
        return Take(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || HasPendingOrFinished())
        {
            return Take(buffer.Span);
        }

        if (buffer.Length >= RecordSpace)
        {
            int sealedLength = await SealIntoAsync(buffer, cancellationToken).ConfigureAwait(false);
            _position += sealedLength;
            return sealedLength;
        }

        _start = 0;
        _end = await SealIntoAsync(_buffer, cancellationToken).ConfigureAwait(false);
        return Take(buffer.Span);
    }

    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        while (true)
        {
            if (!HasPendingOrFinished())
            {
                _start = 0;
                _end = await SealIntoAsync(_buffer, cancellationToken).ConfigureAwait(false);
            }

            if (_start == _end)
            {
                return;
            }

            await destination.WriteAsync(_buffer.AsMemory(_start, _end - _start), cancellationToken).ConfigureAwait(false);
            _position += _end - _start;
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

    // Room for the next record as this stream hands it out: the header before record 0, the record, its tag.
    private int RecordSpace => (_nextRecord == 0 ? RecordFormat.HeaderSize : 0) + RecordFormat.EncryptedRecordSize;

    private bool HasPendingOrFinished()
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_faulted)
        {
            throw new InvalidOperationException("A previous read of the plaintext failed; the ciphertext is incomplete.");
        }

        return _start < _end || _finished;
    }

    // Hands out buffered ciphertext (none once finished: end of stream).
    private int Take(Span<byte> destination)
    {
        int n = Math.Min(_end - _start, destination.Length);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        _position += n;
        return n;
    }

    /// <summary>Reads the next record's plaintext into <paramref name="area"/>, seals it there, returns the bytes to hand out.</summary>
    private int SealInto(Span<byte> area)
    {
        int recordStart = BeginRecord(area, out int filled);
        var target = area.Slice(recordStart, RecordFormat.RecordSize + 1);
        try
        {
            while (filled < target.Length)
            {
                int n = _source.Read(target[filled..]);
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

        return EndRecord(area, recordStart, filled);
    }

    private async ValueTask<int> SealIntoAsync(Memory<byte> area, CancellationToken cancellationToken)
    {
        int recordStart = BeginRecord(area.Span, out int filled);
        var target = area.Slice(recordStart, RecordFormat.RecordSize + 1);
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

        return EndRecord(area.Span, recordStart, filled);
    }

    // The plaintext goes after the header (record 0 only). One byte more than a record is read,
    // because only a byte beyond it proves this record is not the last; that byte was kept from
    // the previous record and now comes first.
    private int BeginRecord(Span<byte> area, out int filled)
    {
        int recordStart = 0;
        if (_nextRecord == 0)
        {
            _cipher.Header.CopyTo(area);
            recordStart = RecordFormat.HeaderSize;
        }

        filled = 0;
        if (_hasLookahead)
        {
            area[recordStart] = _lookahead;
            filled = 1;
            _hasLookahead = false;
        }

        return recordStart;
    }

    private int EndRecord(Span<byte> area, int recordStart, int filled)
    {
        bool last = filled <= RecordFormat.RecordSize;
        int length = last ? filled : RecordFormat.RecordSize;
        if (!last)
        {
            _lookahead = area[recordStart + RecordFormat.RecordSize];
            _hasLookahead = true;
        }

        _cipher.Seal(area[recordStart..], length, _nextRecord, last);
        _nextRecord++;
        _finished = last;
        return recordStart + length + RecordFormat.TagSize;
    }
}
