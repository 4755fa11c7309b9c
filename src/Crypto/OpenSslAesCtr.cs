using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Detach.Crypto;

/// <summary>
/// AES-256-CTR from the platform libcrypto (OpenSSL 3, which .NET itself loads on Linux): EVP
/// aes-256-ctr runs AES-NI/VAES with the XOR fused, several times faster than ECB calls plus a
/// managed XOR. The key schedule is computed once; each call only sets a new counter block.
/// </summary>
internal sealed class OpenSslAesCtr : AesCtr
{
    private const string LibCrypto = "libcrypto.so.3";

    // Bytes per EVP_EncryptUpdate call, so a huge span never overflows OpenSSL's int lengths.
    private const int MaxUpdate = 1 << 30;

    private static readonly Lazy<bool> Supported = new(Probe);

    private readonly CipherContextHandle _context;

    public OpenSslAesCtr(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("libcrypto.so.3 is not available.");
        }

        _context = EVP_CIPHER_CTX_new();
        if (_context.IsInvalid)
        {
            throw new OutOfMemoryException("EVP_CIPHER_CTX_new failed.");
        }

        Span<byte> iv = stackalloc byte[BlockSize];
        iv.Clear();
        if (EVP_EncryptInit_ex(_context, EVP_aes_256_ctr(), IntPtr.Zero, in MemoryMarshal.GetReference(key), in iv[0]) != 1)
        {
            _context.Dispose();
            throw new System.Security.Cryptography.CryptographicException("EVP_EncryptInit_ex(aes-256-ctr) failed.");
        }
    }

    /// <summary>True where libcrypto.so.3 loads and has aes-256-ctr.</summary>
    public static bool IsSupported => Supported.Value;

    public override void Transform(UInt128 counter, Span<byte> data)
    {
        ObjectDisposedException.ThrowIf(_context.IsClosed, this);
        Span<byte> iv = stackalloc byte[BlockSize];
        while (!data.IsEmpty)
        {
            int count = Math.Min(data.Length, MaxUpdate);
            BinaryPrimitives.WriteUInt128BigEndian(iv, counter);

            // Same cipher and key (null): only the counter block and the partial-block state reset.
            if (EVP_EncryptInit_ex(_context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, in iv[0]) != 1
                || EVP_EncryptUpdate(_context, ref data[0], out int written, in data[0], count) != 1
                || written != count)
            {
                throw new System.Security.Cryptography.CryptographicException("EVP_EncryptUpdate(aes-256-ctr) failed.");
            }

            counter += (uint)(count / BlockSize);
            data = data[count..];
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _context.Dispose();
        }
    }

    private static bool Probe()
    {
        try
        {
            return EVP_aes_256_ctr() != IntPtr.Zero;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport(LibCrypto)]
    private static extern CipherContextHandle EVP_CIPHER_CTX_new();

    [DllImport(LibCrypto)]
    private static extern void EVP_CIPHER_CTX_free(IntPtr context);

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_aes_256_ctr();

    [DllImport(LibCrypto)]
    private static extern int EVP_EncryptInit_ex(CipherContextHandle context, IntPtr cipher, IntPtr engine, in byte key, in byte iv);

    [DllImport(LibCrypto)]
    private static extern int EVP_EncryptInit_ex(CipherContextHandle context, IntPtr cipher, IntPtr engine, IntPtr key, in byte iv);

    [DllImport(LibCrypto)]
    private static extern int EVP_EncryptUpdate(CipherContextHandle context, ref byte output, out int outputLength, in byte input, int inputLength);

    private sealed class CipherContextHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public CipherContextHandle()
            : base(ownsHandle: true)
        {
        }

        // EVP_CIPHER_CTX_free also wipes the expanded key.
        protected override bool ReleaseHandle()
        {
            EVP_CIPHER_CTX_free(handle);
            return true;
        }
    }
}
