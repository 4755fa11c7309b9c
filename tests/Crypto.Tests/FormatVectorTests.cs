using System.Security.Cryptography;
using System.Text;

namespace Detach.Crypto.Tests;

/// <summary>
/// Checks the code against the test vectors and labels written in docs/format.md, parsed from the
/// document itself so the two cannot drift apart.
/// </summary>
public class FormatVectorTests
{
    private static readonly Lazy<string> Document = new(() =>
        File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "format.md")));

    public static readonly TheoryData<string> CiphertextVectors = new("empty", "one-byte", "pattern-65537");

    [Fact]
    public void DocumentHasAllVectors()
    {
        var names = Vectors().Select(v => v["name"]).ToArray();
        Assert.Equal(["derived", "empty", "one-byte", "pattern-65537"], names);
    }

    [Theory]
    [MemberData(nameof(CiphertextVectors))]
    public async Task EncryptionReproducesTheVector(string name)
    {
        var vector = Vector(name);
        using var key = new FileKey(Hex(vector["link-key"]), Hex(vector["vault-key"]));
        var salt = Hex(vector["salt"]);
        var plaintext = vector.TryGetValue("plaintext-pattern", out var length)
            ? TestData.Pattern(long.Parse(length, System.Globalization.CultureInfo.InvariantCulture))
            : Hex(vector["plaintext-hex"]);

        var ciphertext = RecordEncryptor.Encrypt(plaintext, key, salt);
        if (vector.TryGetValue("ciphertext-hex", out var hex))
        {
            Assert.Equal(hex, Convert.ToHexStringLower(ciphertext));
        }
        else
        {
            Assert.Equal(long.Parse(vector["ciphertext-length"], System.Globalization.CultureInfo.InvariantCulture), ciphertext.Length);
            Assert.Equal(vector["ciphertext-sha256"], Convert.ToHexStringLower(SHA256.HashData(ciphertext)));
            var tail = Hex(vector["ciphertext-tail-hex"]);
            Assert.Equal(tail, ciphertext.AsSpan(ciphertext.Length - tail.Length).ToArray());
        }

        // The same bytes through the asynchronous stream, and back.
        await using var encrypting = new RecordEncryptingStream(new MemoryStream(plaintext), key, salt);
        Assert.Equal(ciphertext, await TestData.ReadAllAsync(encrypting, 4096));
        await using var decrypting = new RecordDecryptStream(new MemoryStream(ciphertext), key);
        Assert.Equal(plaintext, await TestData.ReadAllAsync(decrypting, 4096));
    }

    [Fact]
    public void DerivedKeysMatchTheDocumentedLabels()
    {
        var vector = Vector("derived");
        var ikm = Hex(vector["link-key"]).Concat(Hex(vector["vault-key"])).ToArray();
        var prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, Hex(vector["salt"]));
        Assert.Equal(vector["encryption-key"], Expand(prk, KeyDerivationLabels.EncryptionKey, 32));
        Assert.Equal(vector["mac-key"], Expand(prk, KeyDerivationLabels.MacKey, 32));
        Assert.Equal(vector["ctr-nonce"], Expand(prk, KeyDerivationLabels.CounterNonce, 8));
        Assert.Equal(vector["link-key-text"], LinkKeyText.Encode(Hex(vector["link-key"])));

        // The labels as the document spells them out in the key-derivation section.
        foreach (var label in new[] { KeyDerivationLabels.EncryptionKey.ToArray(), KeyDerivationLabels.MacKey.ToArray(), KeyDerivationLabels.CounterNonce.ToArray() })
        {
            Assert.Contains($"info = \"{Encoding.ASCII.GetString(label)}\"", Document.Value, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DocumentedConstantsMatchTheCode()
    {
        Assert.Contains($"`RecordSize` = {RecordFormat.RecordSize}", Document.Value, StringComparison.Ordinal);
        Assert.Contains($"R = {RecordFormat.RecordSize}, T = {RecordFormat.TagSize}, H = {RecordFormat.HeaderSize}, E = R + T = {RecordFormat.EncryptedRecordSize}", Document.Value, StringComparison.Ordinal);
        Assert.Contains($"header ({RecordFormat.HeaderSize} bytes)", Document.Value, StringComparison.Ordinal);
    }

    private static string Expand(byte[] prk, ReadOnlySpan<byte> label, int length) =>
        Convert.ToHexStringLower(HKDF.Expand(HashAlgorithmName.SHA256, prk, length, label.ToArray()));

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static Dictionary<string, string> Vector(string name) => Vectors().Single(v => v["name"] == name);

    /// <summary>Every ```vector fenced block of the document as "field: value" pairs.</summary>
    private static List<Dictionary<string, string>> Vectors()
    {
        var vectors = new List<Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (var line in Document.Value.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed == "```vector")
            {
                current = [];
            }
            else if (trimmed == "```" && current is not null)
            {
                vectors.Add(current);
                current = null;
            }
            else if (current is not null)
            {
                int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
                current.Add(trimmed[..colon].Trim(), trimmed[(colon + 1)..].Trim());
            }
        }

        return vectors;
    }
}
