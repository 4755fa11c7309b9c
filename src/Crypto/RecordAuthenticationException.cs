using System.Security.Cryptography;

namespace Detach.Crypto;

/// <summary>
/// A record's tag did not verify: the ciphertext was modified, reordered or truncated, or the key is wrong.
/// No plaintext of that record was released. The message names the record, never key material.
/// </summary>
public sealed class RecordAuthenticationException : CryptographicException
{
    public RecordAuthenticationException()
        : this(-1)
    {
    }

    public RecordAuthenticationException(string message)
        : base(message)
    {
        RecordIndex = -1;
    }

    public RecordAuthenticationException(string message, Exception innerException)
        : base(message, innerException)
    {
        RecordIndex = -1;
    }

    public RecordAuthenticationException(long recordIndex)
        : base($"Encrypted record {recordIndex} failed authentication: the data was modified, reordered or truncated, or the key is wrong.")
    {
        RecordIndex = recordIndex;
    }

    /// <summary>Zero-based index of the record that failed, or -1 if unknown.</summary>
    public long RecordIndex { get; }
}
