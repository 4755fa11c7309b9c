using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Detach.Gateway.Http;

/// <summary>What a valid download token proves: its holder showed the right link key for this CID recently.</summary>
public sealed record DownloadToken(string Cid, byte[] LinkKey, DateTimeOffset ExpiresAt);

/// <summary>
/// Seals a link key into a short-lived download token for the browser's cookie, so that the Download
/// button can be a plain link the browser's download manager can resume. AES-256-GCM under the gateway
/// secret; the CID is associated data, so a token opens only the file it was issued for.
/// Layout (base64url): version (1) | nonce (12) | ciphertext of [expiry unix seconds (8) | link key] | tag (16).
/// </summary>
public sealed class DownloadTokenSealer(GatewaySecret secret, TimeProvider time)
{
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int MaxLinkKeySize = 64;
    private static readonly byte[] Label = "detach download token v1\0"u8.ToArray();

    public string Seal(string cid, ReadOnlySpan<byte> linkKey, TimeSpan lifetime)
    {
        ArgumentException.ThrowIfNullOrEmpty(cid);
        if (linkKey.Length is 0 or > MaxLinkKeySize)
        {
            throw new ArgumentException("A link key is 1 to 64 bytes.", nameof(linkKey));
        }

        var expires = time.GetUtcNow().Add(lifetime).ToUnixTimeSeconds();
        var plaintext = new byte[8 + linkKey.Length];
        var token = new byte[1 + NonceSize + plaintext.Length + TagSize];
        try
        {
            BinaryPrimitives.WriteInt64BigEndian(plaintext, expires);
            linkKey.CopyTo(plaintext.AsSpan(8));
            token[0] = Version;
            var nonce = token.AsSpan(1, NonceSize);
            RandomNumberGenerator.Fill(nonce);
            using var aes = new AesGcm(secret.Key, TagSize);
            aes.Encrypt(nonce, plaintext, token.AsSpan(1 + NonceSize, plaintext.Length), token.AsSpan(token.Length - TagSize), AssociatedData(cid));
            return Base64Url.EncodeToString(token);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Opens a token for <paramref name="cid"/>; null when it is malformed, forged, for another file or expired.</summary>
    public DownloadToken? Open(string cid, string? text)
    {
        if (string.IsNullOrEmpty(cid) || string.IsNullOrEmpty(text) || text.Length > 256)
        {
            return null;
        }

        byte[] token;
        try
        {
            token = Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }

        var plaintextLength = token.Length - 1 - NonceSize - TagSize;
        if (plaintextLength <= 8 || plaintextLength > 8 + MaxLinkKeySize || token[0] != Version)
        {
            return null;
        }

        var plaintext = new byte[plaintextLength];
        try
        {
            using var aes = new AesGcm(secret.Key, TagSize);
            aes.Decrypt(token.AsSpan(1, NonceSize), token.AsSpan(1 + NonceSize, plaintextLength), token.AsSpan(token.Length - TagSize), plaintext, AssociatedData(cid));
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }

        var expires = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(plaintext));
        if (expires <= time.GetUtcNow())
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }

        var linkKey = plaintext[8..];
        CryptographicOperations.ZeroMemory(plaintext);
        return new DownloadToken(cid, linkKey, expires);
    }

    private static byte[] AssociatedData(string cid)
    {
        var data = new byte[Label.Length + Encoding.UTF8.GetByteCount(cid)];
        Label.CopyTo(data, 0);
        Encoding.UTF8.GetBytes(cid, data.AsSpan(Label.Length));
        return data;
    }
}
