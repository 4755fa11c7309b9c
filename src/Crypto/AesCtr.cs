using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace Detach.Crypto;

/// <summary>
/// AES-256 in CTR mode (NIST SP 800-38A): the keystream is AES over consecutive 128-bit big-endian
/// counter blocks, XORed into the data. .NET has no CTR mode: on Linux the platform libcrypto's
/// EVP aes-256-ctr does it (fastest), elsewhere <see cref="EcbAesCtr"/> builds it from AES-ECB.
/// </summary>
internal abstract class AesCtr : IDisposable
{
    public const int BlockSize = 16;

    /// <summary>The fastest implementation available on this platform.</summary>
    public static AesCtr Create(ReadOnlySpan<byte> key) =>
        OpenSslAesCtr.IsSupported ? new OpenSslAesCtr(key) : new EcbAesCtr(key);

    /// <summary>
    /// XORs <paramref name="data"/> in place with the keystream whose first block is the encryption of
    /// <paramref name="counter"/>; the counter increments by one per 16-byte block (mod 2^128).
    /// </summary>
    public abstract void Transform(UInt128 counter, Span<byte> data);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);

    protected static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("AES-256 needs a 32-byte key.", nameof(key));
        }
    }
}

/// <summary>
/// Portable AES-256-CTR: counter blocks are written into a batch buffer, encrypted in place by one
/// AES-ECB call, and XORed into the data with the widest vectors the CPU has.
/// </summary>
internal sealed class EcbAesCtr : AesCtr
{

    // Keystream produced per ECB call: large enough to amortise the call, small enough to stay in L1.
    internal const int BatchSize = 16 * 1024;

    private readonly Aes _aes;

    // One ECB transform kept for the whole key: the one-shot EncryptEcb would set up a native
    // cipher context (and allocate) on every call.
    private readonly ICryptoTransform _ecb;
    private byte[]? _keystream;

    public EcbAesCtr(ReadOnlySpan<byte> key)
    {
        CheckKey(key);
        _aes = Aes.Create();
        _aes.SetKey(key);
        _aes.Mode = CipherMode.ECB;
        _aes.Padding = PaddingMode.None;
        _ecb = _aes.CreateEncryptor();
        _keystream = ArrayPool<byte>.Shared.Rent(BatchSize);
    }

    public override void Transform(UInt128 counter, Span<byte> data)
    {
        var keystreamBuffer = _keystream;
        ObjectDisposedException.ThrowIf(keystreamBuffer is null, this);
        while (!data.IsEmpty)
        {
            int count = Math.Min(data.Length, BatchSize);
            int blocks = (count + BlockSize - 1) / BlockSize;
            var keystream = keystreamBuffer.AsSpan(0, blocks * BlockSize);
            WriteCounterBlocks(keystream, counter);
            _ecb.TransformBlock(keystreamBuffer, 0, keystream.Length, keystreamBuffer, 0);
            Xor(data[..count], keystream[..count]);
            counter += (uint)blocks;
            data = data[count..];
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
        {
            return;
        }

        _ecb.Dispose();
        _aes.Dispose();
        if (_keystream is { } keystream)
        {
            _keystream = null;
            ArrayPool<byte>.Shared.Return(keystream, clearArray: true);
        }
    }

    private static void WriteCounterBlocks(Span<byte> blocks, UInt128 counter)
    {
        ulong high = (ulong)(counter >> 64);
        ulong low = (ulong)counter;
        ulong count = (ulong)(blocks.Length / BlockSize);
        if (low <= ulong.MaxValue - count)
        {
            // No carry into the high half in this batch: the common case, one 64-bit store per half.
            var words = MemoryMarshal.Cast<byte, ulong>(blocks);
            ulong highWord = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(high) : high;
            for (int i = 0; i < words.Length; i += 2)
            {
                ulong next = low + (ulong)(i / 2);
                words[i] = highWord;
                words[i + 1] = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(next) : next;
            }

            return;
        }

        for (int i = 0; i < blocks.Length; i += BlockSize)
        {
            BinaryPrimitives.WriteUInt128BigEndian(blocks[i..], counter);
            counter++;
        }
    }

    /// <summary>data ^= keystream, using the widest vectors the CPU has.</summary>
    internal static void Xor(Span<byte> data, ReadOnlySpan<byte> keystream)
    {
        int done = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<byte, Vector512<byte>>(data);
            var k = MemoryMarshal.Cast<byte, Vector512<byte>>(keystream[..data.Length]);
            for (int i = 0; i < d.Length; i++)
            {
                d[i] ^= k[i];
            }

            done = d.Length * Vector512<byte>.Count;
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<byte, Vector256<byte>>(data);
            var k = MemoryMarshal.Cast<byte, Vector256<byte>>(keystream[..data.Length]);
            for (int i = 0; i < d.Length; i++)
            {
                d[i] ^= k[i];
            }

            done = d.Length * Vector256<byte>.Count;
        }

        for (int i = done; i < data.Length; i++)
        {
            data[i] ^= keystream[i];
        }
    }
}
