using System.Security.Cryptography;

namespace Detach.Crypto;

/// <summary>
/// The two 256-bit key shares of one attachment: the link key travels in the link's URL fragment,
/// the vault key stays in the vault's index. Both are needed to decrypt; erasing either destroys the file.
/// </summary>
public sealed class FileKey : IDisposable
{
    /// <summary>Size in bytes of each key share.</summary>
    public const int KeySize = 32;

    // Pinned so the GC never leaves copies of the secrets behind when it compacts the heap.
    private readonly byte[] _keys = GC.AllocateArray<byte>(2 * KeySize, pinned: true);
    private bool _disposed;

    private FileKey()
    {
    }

    /// <summary>Builds a key from existing shares (both must be exactly <see cref="KeySize"/> bytes).</summary>
    public FileKey(ReadOnlySpan<byte> linkKey, ReadOnlySpan<byte> vaultKey)
    {
        if (linkKey.Length != KeySize)
        {
            throw new ArgumentException($"The link key must be {KeySize} bytes.", nameof(linkKey));
        }

        if (vaultKey.Length != KeySize)
        {
            throw new ArgumentException($"The vault key must be {KeySize} bytes.", nameof(vaultKey));
        }

        linkKey.CopyTo(_keys);
        vaultKey.CopyTo(_keys.AsSpan(KeySize));
    }

    /// <summary>The share that goes into the link (see <see cref="LinkKeyText"/>).</summary>
    public ReadOnlySpan<byte> LinkKey => Keys[..KeySize];

    /// <summary>The share the vault keeps in its index.</summary>
    public ReadOnlySpan<byte> VaultKey => Keys[KeySize..];

    private ReadOnlySpan<byte> Keys
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _keys;
        }
    }

    /// <summary>Draws both shares from the system CSPRNG.</summary>
    public static FileKey Generate()
    {
        var key = new FileKey();
        RandomNumberGenerator.Fill(key._keys);
        return key;
    }

    /// <summary>Zeroes both shares.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_keys);
        _disposed = true;
    }
}
