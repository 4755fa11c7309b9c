using System.IO.Pipelines;

namespace Detach.Crypto;

/// <summary>Push-style encryption: copies a plaintext stream into a ciphertext stream, one record at a time.</summary>
public static class RecordEncryptor
{
    /// <summary>
    /// Encrypts all of <paramref name="plaintext"/> into <paramref name="ciphertext"/> under a fresh salt and
    /// returns the number of ciphertext bytes written. Neither stream is disposed.
    /// </summary>
    public static async Task<long> EncryptAsync(Stream plaintext, Stream ciphertext, FileKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ciphertext);
        var encrypting = new RecordEncryptingStream(plaintext, key, leaveOpen: true);
        await using (encrypting.ConfigureAwait(false))
        {
            await encrypting.CopyToAsync(ciphertext, cancellationToken).ConfigureAwait(false);
            return encrypting.Position;
        }
    }

    /// <summary>
    /// Pipe flavour of <see cref="EncryptAsync(Stream, Stream, FileKey, CancellationToken)"/>: reads the
    /// plaintext pipe to its end and flushes the ciphertext pipe; completes neither.
    /// </summary>
    public static async Task<long> EncryptAsync(PipeReader plaintext, PipeWriter ciphertext, FileKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(ciphertext);
        var source = plaintext.AsStream(leaveOpen: true);
        var destination = ciphertext.AsStream(leaveOpen: true);
        await using (source.ConfigureAwait(false))
        await using (destination.ConfigureAwait(false))
        {
            long written = await EncryptAsync(source, destination, key, cancellationToken).ConfigureAwait(false);
            await ciphertext.FlushAsync(cancellationToken).ConfigureAwait(false);
            return written;
        }
    }

    /// <summary>Encrypts a whole in-memory plaintext (small data and tests); the result is a fresh array.</summary>
    internal static byte[] Encrypt(ReadOnlySpan<byte> plaintext, FileKey key, ReadOnlySpan<byte> salt)
    {
        using var source = new MemoryStream(plaintext.ToArray(), writable: false);
        using var encrypting = new RecordEncryptingStream(source, key, salt);
        var result = new byte[RecordFormat.GetCiphertextLength(plaintext.Length)];
        encrypting.ReadExactly(result);
        if (encrypting.Read(new byte[1]) != 0)
        {
            throw new InvalidOperationException("The encryptor produced more bytes than the format's length arithmetic allows.");
        }

        return result;
    }
}
