using System.Text;
using Detach.Vault.Storage;

namespace Detach.Fuzz.Targets;

/// <summary>CID text (multibase base32 and base58btc, CIDv0) and binary CIDs, as they come from the node, links and CAR files.</summary>
internal sealed class CidTarget : FuzzTarget
{
    public override string Name => "cid";

    public override string Invariant =>
        "a CID that parses prints (base32 and base58) to text that parses to the same CID, and its bytes read back to it; " +
        "a binary CID read never consumes more than it was given";

    public override void Run(byte[] input)
    {
        if (Cid.TryParse(Encoding.Latin1.GetString(input), out var fromText))
        {
            CheckRoundTrip(fromText);
        }

        if (Cid.TryRead(input, out var fromBytes, out var consumed))
        {
            Check(consumed > 0 && consumed <= input.Length, "a binary CID consumed more than it was given");
            CheckRoundTrip(fromBytes);
        }
    }

    private static void CheckRoundTrip(Cid cid)
    {
        Check(Cid.TryParse(cid.ToString(), out var viaBase32) && viaBase32 == cid, "a CID's base32 text parses differently");
        Check(Cid.TryParse(cid.ToBase58String(), out var viaBase58) && viaBase58 == cid, "a CID's base58 text parses differently");
        Check(Cid.FromBytes(cid.AsSpan()) == cid, "a CID's bytes read back differently");
        Check(cid.ToString().StartsWith("baf", StringComparison.Ordinal), "a CIDv1 in base32 that does not start with baf");
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("raw-base32", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"u8.ToArray()),
        ("dagpb-base32", "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"u8.ToArray()),
        ("v0", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"u8.ToArray()),
        ("base58-v1", "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA"u8.ToArray()),
        ("upper", "BAFKREIGH2AKISCAILDCQABSYG3DFR6CHU3FGPREGIYMSCK7E7AQA4S52ZY"u8.ToArray()),
        ("binary", Cid.Compute(Cid.RawCodec, "hello"u8).AsSpan().ToArray()),
    ];
}
