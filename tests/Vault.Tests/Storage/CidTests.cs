using System.Security.Cryptography;
using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

public class CidTests
{
    // The CID of the empty file and of "hello world" as `ipfs add --cid-version=1` gives them.
    private const string EmptyRaw = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    private const string HelloWorldRaw = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    // One dag-pb object in its three spellings: CIDv0, CIDv1 base32, CIDv1 base58btc.
    private const string V0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
    private const string V1Base32 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    [Fact]
    public void Compute_GivesTheKnownCidOfRawBlocks()
    {
        Assert.Equal(EmptyRaw, Cid.Compute(Cid.RawCodec, []).ToString());
        Assert.Equal(HelloWorldRaw, Cid.Compute(Cid.RawCodec, "hello world"u8).ToString());
    }

    [Fact]
    public void Parse_Base32_RoundTripsAndExposesParts()
    {
        var cid = Cid.Parse(HelloWorldRaw);
        Assert.Equal(HelloWorldRaw, cid.ToString());
        Assert.Equal(Cid.RawCodec, cid.Codec);
        Assert.Equal(SHA256.HashData("hello world"u8), cid.Digest.ToArray());
        Assert.Equal([0x12, 0x20], cid.Multihash[..2].ToArray());
    }

    [Fact]
    public void Parse_Base58Btc_EqualsBase32()
    {
        var cid = Cid.Parse(HelloWorldRaw);
        var base58 = cid.ToBase58String();
        Assert.StartsWith("zb2rh", base58, StringComparison.Ordinal);
        Assert.Equal(cid, Cid.Parse(base58));
        Assert.Equal(HelloWorldRaw, Cid.Parse(base58).ToString());
    }

    [Fact]
    public void Parse_UpperCaseBase32_IsAccepted()
    {
        Assert.Equal(Cid.Parse(HelloWorldRaw), Cid.Parse("B" + HelloWorldRaw[1..].ToUpperInvariant()));
    }

    [Fact]
    public void Parse_CidV0_IsTheCidV1DagPbOfTheSameMultihash()
    {
        var v0 = Cid.Parse(V0);
        Assert.Equal(Cid.DagPbCodec, v0.Codec);
        Assert.Equal(V1Base32, v0.ToString());
        Assert.Equal(Cid.Parse(V1Base32), v0);
        Assert.Equal(Cid.Parse(V1Base32).GetHashCode(), v0.GetHashCode());
    }

    [Fact]
    public void RawAndDagPb_OfTheSameDigest_AreNotEqual()
    {
        var digest = SHA256.HashData("x"u8);
        Assert.NotEqual(Cid.Create(Cid.RawCodec, digest), Cid.Create(Cid.DagPbCodec, digest));
    }

    [Fact]
    public void FromBytes_RoundTripsV1AndAcceptsV0()
    {
        var cid = Cid.Parse(HelloWorldRaw);
        Assert.Equal(cid, Cid.FromBytes(cid.AsSpan()));
        var v0Bytes = Cid.Parse(V0).Multihash.ToArray();
        Assert.Equal(Cid.Parse(V0), Cid.FromBytes(v0Bytes));
    }

    [Theory]
    [InlineData("")]
    [InlineData("b")]
    [InlineData("x" + "afkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")] // unknown multibase
    [InlineData("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5")] // truncated digest
    [InlineData("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5eaa")] // trailing bytes
    [InlineData("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5!")] // outside the alphabet
    [InlineData("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR10")] // '0' is not base58
    [InlineData("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1")] // CIDv0 too short
    [InlineData("bciqhdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")] // a bare multihash in base32 (v0 in disguise)
    [InlineData("bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")] // dag-cbor codec
    [InlineData("/ipfs/bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")]
    public void TryParse_RejectsMalformedOrUnsupported(string text)
    {
        Assert.False(Cid.TryParse(text, out _));
        Assert.Throws<FormatException>(() => Cid.Parse(text));
    }

    [Fact]
    public void TryParse_RejectsNonZeroPaddingBits()
    {
        // The last base32 character carries 3 padding bits: they must be zero, or two strings would name one CID.
        var text = HelloWorldRaw[..^1] + "f";
        Assert.False(Cid.TryParse(text, out _));
    }

    [Fact]
    public void FromBytes_RejectsNonMinimalVarint()
    {
        var bytes = Cid.Parse(HelloWorldRaw).AsSpan().ToArray();
        // Version 1 written in two bytes (0x81 0x00) instead of one.
        byte[] padded = [0x81, 0x00, .. bytes[1..]];
        Assert.Throws<FormatException>(() => Cid.FromBytes(padded));
    }

    [Fact]
    public void Default_IsEmpty()
    {
        Cid none = default;
        Assert.True(none.IsEmpty);
        Assert.Equal("", none.ToString());
        Assert.NotEqual(Cid.Parse(HelloWorldRaw), none);
        Assert.Throws<InvalidOperationException>(() => none.Codec);
    }
}
