using System.Buffers;
using System.Runtime.ExceptionServices;

namespace Detach.Crypto;

/// <summary>
/// Read-only stream of plaintext over a ciphertext stream. Each record is authenticated before any of
/// its bytes are returned. Over a seekable ciphertext stream it is seekable too: the plaintext length
/// follows from the ciphertext length, and a seek only decrypts the record holding the new position.
/// </summary>
/// <remarks>
/// Over a non-seekable stream the end is found by reading one byte past each full record; a missing,
/// cut or extended final record then fails authentication of the record where the data really ends.
/// Over a seekable stream an impossible ciphertext length raises <see cref="InvalidDataException"/>.
/// </remarks>
public sealed class RecordDecryptStream : Stream
{
    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly FileKey _key;
    private readonly long _origin;
    private RecordCipher? _cipher;
    private byte[]? _buffer;
    private long _position;
    private long _plaintextLength = -1;
    private long _recordCount;

    // Record whose plaintext is in _buffer[.._loadedLength], or -1.
    private long _loadedRecord = -1;
    private int _loadedLength;

    // Where the source stands (absolute), so sequential reads of a seekable source never seek.
    private long _sourcePosition;

    // Sequential reading: where the source is, in records, and the byte read past the last full record.
    private long _nextRecord;
    private bool _hasLookahead;
    private byte _lookahead;
    private bool _sawLast;
    private bool _lastVerified;

    // Sequentially, a failed record leaves the source mid-stream: every later read repeats the failure.
    private ExceptionDispatchInfo? _failure;

    /// <summary>
    /// Decrypts <paramref name="ciphertext"/> from its current position. The key shares are copied, so
    /// <paramref name="key"/> may be disposed once this constructor returns.
    /// </summary>
    public RecordDecryptStream(Stream ciphertext, FileKey key, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(ciphertext);
        ArgumentNullException.ThrowIfNull(key);
        if (!ciphertext.CanRead)
        {
            throw new ArgumentException("The ciphertext stream must be readable.", nameof(ciphertext));
        }

        _source = ciphertext;
        _leaveOpen = leaveOpen;
        _key = new FileKey(key.LinkKey, key.VaultKey);
        _origin = ciphertext.CanSeek ? ciphertext.Position : 0;
        _sourcePosition = _origin;
        _buffer = ArrayPool<byte>.Shared.Rent(RecordFormat.EncryptedRecordSize + 1);
    }

    public override bool CanRead => _buffer is not null;

    public override bool CanSeek => _buffer is not null && _source.CanSeek;

    public override bool CanWrite => false;

    /// <summary>Plaintext length, from the ciphertext length (seekable streams only).</summary>
    public override long Length
    {
        get
        {
            RequireSeekable();
            return PlaintextLength;
        }
    }

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    private long PlaintextLength
    {
        get
        {
            if (_plaintextLength < 0)
            {
                _plaintextLength = RecordFormat.GetPlaintextLength(_source.Length - _origin);
                _recordCount = RecordFormat.GetRecordCount(_plaintextLength);
            }

            return _plaintextLength;
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        RequireSeekable();
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => PlaintextLength + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("Cannot seek before the start of the plaintext.");
        }

        _position = target;
        return target;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        _failure?.Throw();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_cipher is null)
        {
            ReadHeader();
        }

        while (true)
        {
            int n = TakeLoaded(buffer, out long wanted);
            if (n != 0 || wanted < 0)
            {
                return n;
            }

            if (_source.CanSeek)
            {
                int length = PositionSourceAt(wanted);
                _source.ReadExactly(_buffer.AsSpan(0, length));
                _sourcePosition += length;
                OpenRecord(wanted, length - RecordFormat.TagSize, wanted == _recordCount - 1);
            }
            else
            {
                try
                {
                    int filled = BeginSequentialRecord();
                    while (filled < RecordFormat.EncryptedRecordSize + 1)
                    {
                        int read = _source.Read(_buffer.AsSpan(filled, RecordFormat.EncryptedRecordSize + 1 - filled));
                        if (read == 0)
                        {
                            break;
                        }

                        filled += read;
                    }

                    EndSequentialRecord(filled);
                }
                catch (Exception e)
                {
                    _failure = ExceptionDispatchInfo.Capture(e);
                    throw;
                }
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        _failure?.Throw();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_cipher is null)
        {
            await ReadHeaderAsync(cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            int n = TakeLoaded(buffer.Span, out long wanted);
            if (n != 0 || wanted < 0)
            {
                return n;
            }

            await LoadAsync(wanted, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the plaintext from the current position on, straight from the record buffer.</summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        _failure?.Throw();
        if (_cipher is null)
        {
            await ReadHeaderAsync(cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            var chunk = LoadedAtPosition(out long wanted);
            if (!chunk.IsEmpty)
            {
                await destination.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                _position += chunk.Length;
            }
            else if (wanted < 0)
            {
                return;
            }
            else
            {
                await LoadAsync(wanted, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer is { } buffer)
        {
            _buffer = null;
            _cipher?.Dispose();
            _key.Dispose();
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            if (!_leaveOpen)
            {
                _source.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private void RequireSeekable()
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        _failure?.Throw();
        if (!_source.CanSeek)
        {
            throw new NotSupportedException("The ciphertext stream is not seekable.");
        }
    }

    /// <summary>Copies plaintext of the loaded record at the current position (see <see cref="LoadedAtPosition"/>).</summary>
    private int TakeLoaded(Span<byte> destination, out long wanted)
    {
        var chunk = LoadedAtPosition(out wanted).Span;
        int n = Math.Min(destination.Length, chunk.Length);
        chunk[..n].CopyTo(destination);
        _position += n;
        return n;
    }

    /// <summary>
    /// The loaded record's plaintext from the current position to the record's end. Empty when that
    /// record is not loaded, with <paramref name="wanted"/> = the record to load, or -1 at the end.
    /// </summary>
    private ReadOnlyMemory<byte> LoadedAtPosition(out long wanted)
    {
        long record = _position / RecordFormat.RecordSize;
        if (_source.CanSeek && _position >= PlaintextLength)
        {
            // Reaching the end authenticates the final record once, which proves the length (and, for an
            // empty plaintext, the key) even when the reader seeked straight to the end.
            wanted = _lastVerified ? -1 : _recordCount - 1;
            return ReadOnlyMemory<byte>.Empty;
        }

        wanted = record;
        long offset = _position - (record * RecordFormat.RecordSize);
        if (record == _loadedRecord && offset < _loadedLength)
        {
            return _buffer.AsMemory((int)offset, _loadedLength - (int)offset);
        }

        // Sequentially, the record after the last one is the end.
        if (!_source.CanSeek && _sawLast)
        {
            wanted = -1;
        }

        return ReadOnlyMemory<byte>.Empty;
    }

    private async ValueTask LoadAsync(long wanted, CancellationToken cancellationToken)
    {
        if (_source.CanSeek)
        {
            int length = PositionSourceAt(wanted);
            await _source.ReadExactlyAsync(_buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            _sourcePosition += length;
            OpenRecord(wanted, length - RecordFormat.TagSize, wanted == _recordCount - 1);
            return;
        }

        try
        {
            int filled = BeginSequentialRecord();
            while (filled < RecordFormat.EncryptedRecordSize + 1)
            {
                int read = await _source.ReadAsync(_buffer.AsMemory(filled, RecordFormat.EncryptedRecordSize + 1 - filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                filled += read;
            }

            EndSequentialRecord(filled);
        }
        catch (Exception e)
        {
            _failure = ExceptionDispatchInfo.Capture(e);
            throw;
        }
    }

    private void ReadHeader()
    {
        Span<byte> header = stackalloc byte[RecordFormat.HeaderSize];
        if (_source.CanSeek)
        {
            _ = PlaintextLength;
            _source.Position = _origin;
        }

        if (_source.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
        {
            throw new InvalidDataException("The ciphertext is shorter than its header.");
        }

        _sourcePosition = _origin + RecordFormat.HeaderSize;
        _cipher = new RecordCipher(_key, header);
    }

    private async ValueTask ReadHeaderAsync(CancellationToken cancellationToken)
    {
        var header = new byte[RecordFormat.HeaderSize];
        if (_source.CanSeek)
        {
            _ = PlaintextLength;
            _source.Position = _origin;
        }

        if (await _source.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < header.Length)
        {
            throw new InvalidDataException("The ciphertext is shorter than its header.");
        }

        _sourcePosition = _origin + RecordFormat.HeaderSize;
        _cipher = new RecordCipher(_key, header);
    }

    // Seeks the source to record `index` if it is not already there; returns the record's ciphertext length.
    private int PositionSourceAt(long index)
    {
        long offset = RecordFormat.GetRecordOffset(index);
        long length = Math.Min(RecordFormat.EncryptedRecordSize, RecordFormat.GetCiphertextLength(PlaintextLength) - offset);
        if (_sourcePosition != _origin + offset)
        {
            _source.Position = _origin + offset;
            _sourcePosition = _origin + offset;
        }

        _loadedRecord = -1;
        return (int)length;
    }

    // Sequential reading: the next record goes to the start of the buffer, after the carried look-ahead byte.
    private int BeginSequentialRecord()
    {
        if (_position != _nextRecord * RecordFormat.RecordSize)
        {
            throw new InvalidOperationException("Sequential decryption lost its place.");
        }

        _loadedRecord = -1;
        if (_hasLookahead)
        {
            _buffer![0] = _lookahead;
            _hasLookahead = false;
            return 1;
        }

        return 0;
    }

    // A full record plus one more byte means more records follow; anything less is the final record.
    private void EndSequentialRecord(int filled)
    {
        long index = _nextRecord++;
        if (filled > RecordFormat.EncryptedRecordSize)
        {
            _lookahead = _buffer![RecordFormat.EncryptedRecordSize];
            _hasLookahead = true;
            OpenRecord(index, RecordFormat.RecordSize, last: false);
            return;
        }

        _sawLast = true;
        if (filled < RecordFormat.TagSize)
        {
            // Not even a tag: the stream was cut inside (or right before) this record.
            throw new RecordAuthenticationException(index);
        }

        OpenRecord(index, filled - RecordFormat.TagSize, last: true);
    }

    private void OpenRecord(long index, int length, bool last)
    {
        if (!_cipher!.TryOpen(_buffer, length, index, last))
        {
            throw new RecordAuthenticationException(index);
        }

        _loadedRecord = index;
        _loadedLength = length;
        _lastVerified |= last;
    }
}
