using System.Security.Cryptography;

namespace Detach.Crypto.Tests;

public class AesCtrTests
{
    public static readonly TheoryData<string> Implementations = new("ecb", "openssl");

    // NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt and F.5.6 CTR-AES256.Decrypt.
    private const string Key = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    private const string InitialCounter = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    private const string Plaintext =
        "6bc1bee22e409f96e93d7e117393172a" + "ae2d8a571e03ac9c9eb76fac45af8e51" +
        "30c81c46a35ce411e5fbc1191a0a52ef" + "f69f2445df4f9b17ad2b417be66c3710";
    private const string Ciphertext =
        "601ec313775789a5b7a7f504bbf3d228" + "f443e3ca4d62b59aca84e990cacaf5c5" +
        "2b0930daa23de94ce87017ba2d84988d" + "dfc9c58db67aada613c2dd08457941a6";

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Sp800_38A_F5_5_Encrypt(string implementation)
    {
        using var ctr = Create(implementation, Convert.FromHexString(Key));
        var data = Convert.FromHexString(Plaintext);
        ctr.Transform(Counter(InitialCounter), data);
        Assert.Equal(Ciphertext, Convert.ToHexStringLower(data));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Sp800_38A_F5_6_Decrypt(string implementation)
    {
        using var ctr = Create(implementation, Convert.FromHexString(Key));
        var data = Convert.FromHexString(Ciphertext);
        ctr.Transform(Counter(InitialCounter), data);
        Assert.Equal(Plaintext, Convert.ToHexStringLower(data));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Sp800_38A_Vectors_HoldWhenSplitAtBlockBoundaries(string implementation)
    {
        // Callers continue a keystream at a later block by passing its counter; every split is tried.
        using var ctr = Create(implementation, Convert.FromHexString(Key));
        for (int split = 0; split <= 64; split += 16)
        {
            var data = Convert.FromHexString(Plaintext);
            ctr.Transform(Counter(InitialCounter), data.AsSpan(0, split));
            ctr.Transform(Counter(InitialCounter) + (uint)(split / 16), data.AsSpan(split));
            Assert.Equal(Ciphertext, Convert.ToHexStringLower(data));
        }
    }

    [Theory]
    [InlineData("ecb", "0000000000000000fffffffffffffff0")] // carry from the low into the high 64 bits
    [InlineData("ecb", "fffffffffffffffffffffffffffffff8")] // wrap of the whole 128-bit counter
    [InlineData("ecb", "00000000000000000000000000000000")]
    [InlineData("openssl", "0000000000000000fffffffffffffff0")]
    [InlineData("openssl", "fffffffffffffffffffffffffffffff8")]
    [InlineData("openssl", "00000000000000000000000000000000")]
    public void MatchesBlockByBlockEcbAcrossCarries(string implementation, string counterHex)
    {
        var key = TestData.Random(32, 1);
        var data = TestData.Random((3 * EcbAesCtr.BatchSize) + 5, 2);
        var expected = (byte[])data.Clone();
        using (var aes = Aes.Create())
        {
            aes.Key = key;
            var counter = Counter(counterHex);
            var block = new byte[16];
            for (int offset = 0; offset < expected.Length; offset += 16, counter++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(block, counter);
                var keystream = aes.EncryptEcb(block, PaddingMode.None);
                for (int i = 0; i < 16 && offset + i < expected.Length; i++)
                {
                    expected[offset + i] ^= keystream[i];
                }
            }
        }

        using var ctr = Create(implementation, key);
        ctr.Transform(Counter(counterHex), data);
        Assert.Equal(expected, data);
    }

    [Fact]
    public void XorHandlesEveryTailLength()
    {
        for (int length = 0; length < 200; length++)
        {
            var data = TestData.Random(length, length);
            var keystream = TestData.Random(length + 3, length + 1000);
            var expected = data.Select((b, i) => (byte)(b ^ keystream[i])).ToArray();
            EcbAesCtr.Xor(data, keystream);
            Assert.Equal(expected, data);
        }
    }

    [Fact]
    public void OpenSslIsUsedOnLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("libcrypto.so.3 is only looked for on Linux.");
        }

        Assert.True(OpenSslAesCtr.IsSupported, "libcrypto.so.3 (OpenSSL 3) should load wherever .NET crypto works on Linux");
        using var ctr = AesCtr.Create(new byte[32]);
        Assert.IsType<OpenSslAesCtr>(ctr);
    }

    private static AesCtr Create(string implementation, byte[] key)
    {
        if (implementation == "openssl" && !OpenSslAesCtr.IsSupported)
        {
            Assert.Skip("libcrypto.so.3 is not available here.");
        }

        return implementation == "openssl" ? new OpenSslAesCtr(key) : new EcbAesCtr(key);
    }

    private static UInt128 Counter(string hex) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(Convert.FromHexString(hex));
}
