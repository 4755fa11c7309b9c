using System.Text;
using Detach.Crypto;
using Detach.Vault;

namespace Detach.Fuzz.Targets;

/// <summary>Download links ({PublicUrl}/d/{cid}#{key}) as `detach fetch` and the download page take them from a user.</summary>
internal sealed class LinkTarget : FuzzTarget
{
    public override string Name => "link";

    public override string Invariant =>
        "a link either parses or is a FormatException whose message never repeats the key text; a parsed link built again " +
        "parses to the same base, CID and key; link-key text round-trips exactly";

    public override void Run(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        var hash = text.IndexOf('#', StringComparison.Ordinal);
        DownloadLink link;
        try
        {
            link = DownloadLink.Parse(text);
        }
        catch (FormatException e)
        {
            var key = hash < 0 ? "" : text[(hash + 1)..];
            Check(key.Length < 8 || !e.Message.Contains(key, StringComparison.Ordinal), "an error message repeats the link key");
            return;
        }

        Check(link.LinkKey.Length == FileKey.KeySize, "a parsed key is not 32 bytes");
        var keyText = text[(hash + 1)..];
        Check(LinkKeyText.Encode(link.LinkKey) == keyText, "link-key text does not round-trip");
        var rebuilt = DownloadLink.Build(link.BaseUrl, link.Cid, link.LinkKey);
        var again = DownloadLink.Parse(rebuilt);
        Check(again.BaseUrl == link.BaseUrl && again.Cid == link.Cid && again.LinkKey.AsSpan().SequenceEqual(link.LinkKey),
            "a link built from a parsed link parses differently");
        Check(!link.ToString().Contains(keyText, StringComparison.Ordinal), "a link's ToString shows its key");
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
    [
        ("plain", "https://files.example.com/d/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"u8.ToArray()),
        ("prefix-path", "http://localhost:8080/vault/d/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"u8.ToArray()),
        ("bad-key", "https://files.example.com/d/bafkrei#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9"u8.ToArray()),
        ("no-key", "https://files.example.com/d/bafkrei"u8.ToArray()),
        ("query", "https://files.example.com/d/x?y=1#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"u8.ToArray()),
    ];
}
