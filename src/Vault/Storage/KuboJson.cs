using System.Text.Json;
using System.Text.Json.Serialization;

namespace Detach.Vault.Storage;

/// <summary>The RPC API's JSON shapes. Kubo writes sizes as strings where js-ipfs writes numbers: both parse.</summary>
internal static class KuboJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        PropertyNameCaseInsensitive = true,
        Converters = { new LenientCidConverter() },
    };

    /// <summary>Reads a CID written as a string or as <c>{"/": "…"}</c> (dag-json link form).</summary>
    private sealed class LenientCidConverter : JsonConverter<Cid>
    {
        public override Cid Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                Cid? cid = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var isLink = reader.ValueTextEquals("/");
                    reader.Read();
                    if (isLink && reader.TokenType == JsonTokenType.String)
                    {
                        cid = Parse(reader.GetString());
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                return cid ?? throw new JsonException("A CID link object has no \"/\".");
            }
            return Parse(reader.GetString());
        }

        public override void Write(Utf8JsonWriter writer, Cid value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());

        private static Cid Parse(string? text) =>
            Cid.TryParse(text, out var cid) ? cid : throw new JsonException($"The node returned an unsupported CID '{text}'.");
    }
}

internal sealed record KuboErrorBody(string? Message, int Code, string? Type);

internal sealed record KuboAddLine(string? Name, string? Hash, long? Size, string? Message, string? Type);

internal sealed record KuboPinsBody(IReadOnlyList<Cid>? Pins);

internal sealed record KuboPinLsBody(Dictionary<string, KuboPinType>? Keys);

internal sealed record KuboPinType(string? Type);

internal sealed record KuboDagImportLine(KuboDagImportRoot? Root);

// A root or block named without its CID is no answer (found by fuzzing: it used to come back as an empty CID).
internal sealed record KuboDagImportRoot([property: JsonRequired] Cid Cid, string? PinErrorMsg);

/// <summary>What <see cref="KuboClient.AddAsync"/> stored: the root CID, the bytes sent, and the node's cumulative DAG size.</summary>
public sealed record KuboAddResult(Cid Cid, long Size, long DagSize);

/// <summary>A pin: its root CID and kind (recursive, direct, indirect).</summary>
public sealed record KuboPin(Cid Cid, string Type);

/// <summary>A block the node holds: its CID and length in bytes.</summary>
public sealed record KuboBlockStat(
    [property: JsonPropertyName("Key"), JsonRequired] Cid Cid,
    [property: JsonPropertyName("Size"), JsonRequired] long Size);

/// <summary>The node's identity as <c>/api/v0/id</c> reports it.</summary>
public sealed record KuboNodeId(
    [property: JsonPropertyName("ID")] string Id,
    [property: JsonPropertyName("AgentVersion")] string? AgentVersion,
    [property: JsonPropertyName("Addresses")] IReadOnlyList<string>? Addresses);

/// <summary>Repository usage as <c>/api/v0/repo/stat</c> reports it.</summary>
public sealed record KuboRepoStat(
    [property: JsonPropertyName("RepoSize")] long RepoSize,
    [property: JsonPropertyName("StorageMax")] long StorageMax,
    [property: JsonPropertyName("NumObjects")] long NumObjects);
