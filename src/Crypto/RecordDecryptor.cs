using System.Buffers;
using System.IO.Pipelines;

namespace Detach.Crypto;

/// <summary>Push-style decryption, whole or by plaintext byte range.</summary>
public static class RecordDecryptor
{
    /// <summary>Decrypts a whole ciphertext stream into <paramref name="plaintext"/>; neither stream is disposed.</summary>
    public static async Task DecryptAsync(Stream ciphertext, Stream plaintext, FileKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var decrypting = new RecordDecryptStream(ciphertext, key, leaveOpen: true);
        await using (decrypting.ConfigureAwait(false))
        {
            await decrypting.CopyToAsync(plaintext, RecordFormat.RecordSize, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes plaintext bytes [<paramref name="plaintextOffset"/>, +<paramref name="count"/>) to
    /// <paramref name="destination"/>, fetching only the header and the records that hold them.
    /// <paramref name="openCiphertextRange"/>(offset, length, ct) must return a stream of exactly those
    /// ciphertext bytes. <paramref name="ciphertextLength"/> comes from a trusted place (the vault index):
    /// it decides which record must carry the last flag. Each record is authenticated before any of its
    /// plaintext is written; an empty range fetches nothing.
    /// </summary>
    public static Task DecryptRangeAsync(
        Func<long, long, CancellationToken, ValueTask<Stream>> openCiphertextRange,
        long ciphertextLength,
        FileKey key,
        long plaintextOffset,
        long count,
        Stream destination,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return DecryptRangeAsync(openCiphertextRange, ciphertextLength, key, plaintextOffset, count, new StreamTarget(destination), cancellationToken);
    }

    /// <summary>
    /// As the <see cref="Stream"/> overload, but each record is read into <paramref name="destination"/>'s own
    /// memory, opened there and handed on with <see cref="PipeWriter.Advance"/> once authenticated: the plaintext
    /// is never copied (an HTTP response's <c>BodyWriter</c> sends it as it lies). Flushes after each record.
    /// </summary>
    public static Task DecryptRangeAsync(
        Func<long, long, CancellationToken, ValueTask<Stream>> openCiphertextRange,
        long ciphertextLength,
        FileKey key,
        long plaintextOffset,
        long count,
        PipeWriter destination,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return DecryptRangeAsync(openCiphertextRange, ciphertextLength, key, plaintextOffset, count, new PipeTarget(destination), cancellationToken);
    }

    private static async Task DecryptRangeAsync(
        Func<long, long, CancellationToken, ValueTask<Stream>> openCiphertextRange,
        long ciphertextLength,
        FileKey key,
        long plaintextOffset,
        long count,
        PlaintextTarget destination,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(openCiphertextRange);
        ArgumentNullException.ThrowIfNull(key);
        long plaintextLength = RecordFormat.GetPlaintextLength(ciphertextLength);
        long lastRecord = RecordFormat.GetRecordCount(plaintextLength) - 1;
        var range = RecordFormat.GetCiphertextRange(plaintextOffset, count, plaintextLength);
        if (range.RecordCount == 0)
        {
            return;
        }

        var header = new byte[RecordFormat.HeaderSize];
        RecordCipher? cipher = null;
        Stream? records = null;
        try
        {
            // Record 0 directly follows the header: one fetch then, two otherwise.
            if (range.Offset == RecordFormat.HeaderSize)
            {
                records = await openCiphertextRange(0, RecordFormat.HeaderSize + range.Length, cancellationToken).ConfigureAwait(false);
                await ReadExactlyAsync(records, header, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var headerStream = await openCiphertextRange(0, RecordFormat.HeaderSize, cancellationToken).ConfigureAwait(false);
                await using (headerStream.ConfigureAwait(false))
                {
                    await ReadExactlyAsync(headerStream, header, cancellationToken).ConfigureAwait(false);
                }

                records = await openCiphertextRange(range.Offset, range.Length, cancellationToken).ConfigureAwait(false);
            }

            cipher = new RecordCipher(key, header);
            int skip = range.PlaintextSkip;
            long remaining = count;
            long recordOffset = range.Offset;
            for (long index = range.FirstRecordIndex; remaining > 0; index++)
            {
                int length = (int)Math.Min(RecordFormat.EncryptedRecordSize, ciphertextLength - recordOffset);
                Memory<byte> buffer = destination.GetRecordBuffer(length);
                await ReadExactlyAsync(records, buffer[..length], cancellationToken).ConfigureAwait(false);
                int plaintextInRecord = length - RecordFormat.TagSize;
                if (!cipher.TryOpen(buffer.Span, plaintextInRecord, index, index == lastRecord))
                {
                    throw new RecordAuthenticationException(index);
                }

                int take = (int)Math.Min(remaining, plaintextInRecord - skip);
                await destination.WriteAsync(buffer, skip, take, cancellationToken).ConfigureAwait(false);
                remaining -= take;
                skip = 0;
                recordOffset += length;
            }
        }
        finally
        {
            if (records is not null)
            {
                await records.DisposeAsync().ConfigureAwait(false);
            }

            cipher?.Dispose();
            destination.Dispose();
        }
    }

    /// <summary>Where opened records go: a buffer to read one into, then its authenticated plaintext handed on.</summary>
    private abstract class PlaintextTarget : IDisposable
    {
        public abstract Memory<byte> GetRecordBuffer(int length);

        /// <summary>Hands on <c>record[skip..skip+take]</c> of the buffer last returned.</summary>
        public abstract ValueTask WriteAsync(Memory<byte> record, int skip, int take, CancellationToken cancellationToken);

        public virtual void Dispose()
        {
        }
    }

    private sealed class StreamTarget(Stream destination) : PlaintextTarget
    {
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(RecordFormat.EncryptedRecordSize);

        public override Memory<byte> GetRecordBuffer(int length) => _buffer;

        public override ValueTask WriteAsync(Memory<byte> record, int skip, int take, CancellationToken cancellationToken) =>
            destination.WriteAsync(record.Slice(skip, take), cancellationToken);

        public override void Dispose() => ArrayPool<byte>.Shared.Return(_buffer, clearArray: true);
    }

    private sealed class PipeTarget(PipeWriter destination) : PlaintextTarget
    {
        public override Memory<byte> GetRecordBuffer(int length) => destination.GetMemory(length);

        public override async ValueTask WriteAsync(Memory<byte> record, int skip, int take, CancellationToken cancellationToken)
        {
            if (skip > 0)
            {
                // Only the first record of a range starts inside the record.
                record.Slice(skip, take).CopyTo(record);
            }

            destination.Advance(take);
            FlushResult flushed = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("The destination stopped reading.");
            }
        }
    }

    private static async ValueTask ReadExactlyAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (await source.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < buffer.Length)
        {
            throw new InvalidDataException("The ciphertext source returned fewer bytes than the requested range.");
        }
    }
}
