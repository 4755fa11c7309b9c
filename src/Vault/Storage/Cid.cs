using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Detach.Vault.Storage;

/// <summary>
/// A content identifier as Detach uses them: CIDv1 (or CIDv0, read as the CIDv1 dag-pb it stands
/// for) over a sha2-256 multihash, with codec raw (a leaf) or dag-pb (a UnixFS node).
/// Equality is on the binary CIDv1, so "Qm…", "bafy…" and js-ipfs's "zdj7…" spellings of one
/// object are equal; <see cref="ToString"/> gives the canonical CIDv1 base32 lower case.
/// </summary>
public readonly struct Cid : IEquatable<Cid>, ISpanParsable<Cid>
{
    public const ulong RawCodec = 0x55;
    public const ulong DagPbCodec = 0x70;
    public const ulong Sha2_256Code = 0x12;
    private const int DigestLength = 32;
    private const int MaxTextLength = 128;

    private readonly byte[]? _bytes;

    private Cid(byte[] bytes) => _bytes = bytes;

    /// <summary>The multicodec of the block: <see cref="RawCodec"/> or <see cref="DagPbCodec"/>.</summary>
    public ulong Codec => Bytes[1];

    /// <summary>The sha2-256 digest of the block.</summary>
    public ReadOnlySpan<byte> Digest => Bytes.AsSpan(4, DigestLength);

    /// <summary>The multihash (code, length, digest).</summary>
    public ReadOnlySpan<byte> Multihash => Bytes.AsSpan(2);

    /// <summary>True for the default value, which names nothing.</summary>
    public bool IsEmpty => _bytes is null;

    private byte[] Bytes => _bytes ?? throw new InvalidOperationException("The CID is empty (default value).");

    /// <summary>The binary CIDv1 (version, codec, multihash): what CAR files and dag-cbor links carry.</summary>
    public ReadOnlySpan<byte> AsSpan() => Bytes;

    public static Cid Create(ulong codec, ReadOnlySpan<byte> sha256Digest)
    {
        if (codec is not (RawCodec or DagPbCodec))
        {
            throw new ArgumentOutOfRangeException(nameof(codec), codec, "Only raw (0x55) and dag-pb (0x70) are supported.");
        }
        if (sha256Digest.Length != DigestLength)
        {
            throw new ArgumentException("A sha2-256 digest is 32 bytes.", nameof(sha256Digest));
        }
        // Both codecs and the hash code fit one varint byte, so the layout is fixed.
        var bytes = new byte[4 + DigestLength];
        bytes[0] = 1;
        bytes[1] = (byte)codec;
        bytes[2] = (byte)Sha2_256Code;
        bytes[3] = DigestLength;
        sha256Digest.CopyTo(bytes.AsSpan(4));
        return new Cid(bytes);
    }

    /// <summary>The CID of <paramref name="block"/> stored under <paramref name="codec"/>.</summary>
    public static Cid Compute(ulong codec, ReadOnlySpan<byte> block)
    {
        Span<byte> digest = stackalloc byte[DigestLength];
        SHA256.HashData(block, digest);
        return Create(codec, digest);
    }

    /// <summary>Reads a binary CID (v0 = bare multihash, or v1) from the start of <paramref name="source"/>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Cid cid, out int consumed)
    {
        cid = default;
        consumed = 0;
        if (source.Length >= 2 && source[0] == Sha2_256Code && source[1] == DigestLength)
        {
            // CIDv0: a bare sha2-256 multihash, implicitly dag-pb.
            if (source.Length < 2 + DigestLength)
            {
                return false;
            }
            cid = Create(DagPbCodec, source.Slice(2, DigestLength));
            consumed = 2 + DigestLength;
            return true;
        }
        if (!Varint.TryRead(source, out var version, out var n) || version != 1)
        {
            return false;
        }
        var offset = n;
        if (!Varint.TryRead(source[offset..], out var codec, out n) || codec is not (RawCodec or DagPbCodec))
        {
            return false;
        }
        offset += n;
        if (!Varint.TryRead(source[offset..], out var hashCode, out n) || hashCode != Sha2_256Code)
        {
            return false;
        }
        offset += n;
        if (!Varint.TryRead(source[offset..], out var digestLength, out n) || digestLength != DigestLength)
        {
            return false;
        }
        offset += n;
        if (source.Length - offset < DigestLength)
        {
            return false;
        }
        cid = Create(codec, source.Slice(offset, DigestLength));
        consumed = offset + DigestLength;
        return true;
    }

    public static Cid FromBytes(ReadOnlySpan<byte> bytes) =>
        TryRead(bytes, out var cid, out var consumed) && consumed == bytes.Length
            ? cid
            : throw new FormatException("Not a supported binary CID (CIDv0 or CIDv1, raw or dag-pb, sha2-256).");

    public static bool TryParse([NotNullWhen(true)] string? s, out Cid result) => TryParse(s.AsSpan(), out result);

    public static bool TryParse(ReadOnlySpan<char> s, out Cid result)
    {
        result = default;
        if (s.Length < 2 || s.Length > MaxTextLength)
        {
            return false;
        }
        byte[]? bytes;
        if (s.Length == 46 && s[0] == 'Q' && s[1] == 'm')
        {
            bytes = Multibase.DecodeBase58(s);
            // A CIDv0 is exactly a sha2-256 multihash.
            if (bytes is not { Length: 34 })
            {
                return false;
            }
        }
        else
        {
            bytes = s[0] switch
            {
                'b' or 'B' => Multibase.DecodeBase32(s[1..]),
                'z' => Multibase.DecodeBase58(s[1..]),
                _ => null,
            };
            // A multibase CID is v1: a bare multihash there would be a CIDv0 in disguise.
            if (bytes is null || bytes.Length == 0 || bytes[0] != 1)
            {
                return false;
            }
        }
        return TryRead(bytes, out result, out var consumed) && consumed == bytes.Length;
    }

    public static Cid Parse(string s) => Parse(s.AsSpan());

    public static Cid Parse(ReadOnlySpan<char> s) =>
        TryParse(s, out var cid) ? cid : throw new FormatException("Not a supported CID (CIDv0 'Qm…', or CIDv1 in base32 'b…' or base58btc 'z…').");

    static Cid IParsable<Cid>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<Cid>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Cid result) => TryParse(s, out result);

    static Cid ISpanParsable<Cid>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    static bool ISpanParsable<Cid>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out Cid result) => TryParse(s, out result);

    /// <summary>The canonical form: CIDv1, multibase base32 lower case ("bafk…" raw, "bafy…" dag-pb).</summary>
    public override string ToString() => _bytes is null ? string.Empty : "b" + Multibase.EncodeBase32(_bytes);

    /// <summary>CIDv1 in base58btc ("z…"), the spelling js-ipfs prints.</summary>
    public string ToBase58String() => "z" + Multibase.EncodeBase58(Bytes);

    public bool Equals(Cid other) => _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => obj is Cid other && Equals(other);

    public override int GetHashCode()
    {
        if (_bytes is null)
        {
            return 0;
        }
        // The digest is already uniformly distributed.
        return BitConverter.ToInt32(_bytes, 4) ^ _bytes[1];
    }

    public static bool operator ==(Cid left, Cid right) => left.Equals(right);

    public static bool operator !=(Cid left, Cid right) => !left.Equals(right);
}
