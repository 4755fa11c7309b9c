using System.Net;
using System.Text;
using Detach.Vault.Storage;
using Microsoft.Extensions.Options;

namespace Detach.Fuzz.Targets;

/// <summary>
/// KuboClient reading any answer from the node: byte 0 picks the call, byte 1 the HTTP status, byte 2 how much of the
/// rest goes into an X-Stream-Error trailer; the rest is the body.
/// </summary>
internal sealed class KuboJsonTarget : FuzzTarget
{
    private static readonly Cid Probe = Cid.Compute(Cid.RawCodec, "probe"u8);
    private static readonly HttpStatusCode[] Statuses = [HttpStatusCode.OK, HttpStatusCode.InternalServerError, HttpStatusCode.BadRequest, HttpStatusCode.NotFound];

    public override string Name => "kubo-json";

    public override string Invariant =>
        "every answer gives a well-formed result (CIDs that round-trip, pins confirmed) or a KuboException, never another exception";

    public override void Run(byte[] input)
    {
        if (input.Length < 3)
        {
            return;
        }

        var status = Statuses[input[1] % Statuses.Length];
        var rest = input.AsSpan(3);
        var trailerLength = Math.Min(input[2] & 0x7f, rest.Length) * ((input[2] & 0x80) == 0 ? 0 : 1);
        var body = rest[..^trailerLength].ToArray();
        var trailer = trailerLength == 0 ? null : Encoding.Latin1.GetString(rest[^trailerLength..]);
        using var http = new HttpClient(new AnswerHandler(status, body, trailer));
        var client = new KuboClient(http, Options.Create(new KuboOptions { MaxRetries = 0, RequestTimeout = TimeSpan.FromSeconds(10) }));
        try
        {
            CallAsync(client, input[0]).GetAwaiter().GetResult();
        }
        catch (KuboException)
        {
            // The documented way to refuse an answer.
        }
    }

    private static async Task CallAsync(KuboClient client, byte call)
    {
        var ct = CancellationToken.None;
        switch (call % 9)
        {
            case 0:
                var added = await client.AddAsync(new MemoryStream("content"u8.ToArray()), "pin", ct);
                CheckCid(added.Cid);
                break;
            case 1:
                foreach (var pin in await client.PinLsAsync(null, ct))
                {
                    CheckCid(pin.Cid);
                    Check(pin.Type is not null, "a pin without a type");
                }

                break;
            case 2:
                Check((await client.PinLsAsync(Probe, ct)).All(p => !p.Cid.IsEmpty), "an empty CID among the pins");
                break;
            case 3:
                await client.PinAddAsync(Probe, ct);
                break;
            case 4:
                var stat = await client.BlockStatAsync(Probe, ct);
                Check(!stat.Cid.IsEmpty, "block/stat without a CID");
                break;
            case 5:
                var id = await client.IdAsync(ct);
                Check(id is not null, "id without an answer");
                break;
            case 6:
                Check(await client.RepoStatAsync(ct) is not null, "repo/stat without an answer");
                break;
            case 7:
                foreach (var root in await client.DagImportAsync(new MemoryStream([1, 2, 3]), ct))
                {
                    CheckCid(root);
                }

                break;
            default:
                Check(await client.FileSizeAsync(Cid.Compute(Cid.DagPbCodec, "root"u8), ct) >= 0, "a negative file size");
                break;
        }
    }

    private static void CheckCid(Cid cid) =>
        Check(!cid.IsEmpty && Cid.TryParse(cid.ToString(), out var again) && again == cid, "a CID from the node does not round-trip");

    private sealed class AnswerHandler(HttpStatusCode status, byte[] body, string? trailer) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is not null)
            {
                await request.Content.CopyToAsync(Stream.Null, cancellationToken);
            }

            var response = new HttpResponseMessage(status) { Content = new ByteArrayContent(body), RequestMessage = request };
            if (trailer is not null)
            {
                response.TrailingHeaders.TryAddWithoutValidation("X-Stream-Error", trailer);
            }

            return response;
        }
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var cid = Probe.ToString();
        (byte Call, byte Status, string Body)[] answers =
        [
            (0, 0, "{\"Name\":\"blob\",\"Hash\":\"" + cid + "\",\"Size\":\"7\"}\n"),
            (0, 0, "{\"Name\":\"blob\",\"Bytes\":7}\n{\"Name\":\"blob\",\"Hash\":\"" + cid + "\",\"Size\":7}\n"),
            (0, 0, "{\"Type\":\"error\",\"Message\":\"pin-name not supported\"}\n"),
            (1, 0, "{\"Keys\":{\"" + cid + "\":{\"Type\":\"recursive\"}}}"),
            (2, 3, "{\"Message\":\"path '" + cid + "' is not pinned\",\"Code\":0,\"Type\":\"error\"}"),
            (3, 0, "{\"Pins\":[\"" + cid + "\"]}"),
            (3, 0, "{\"Pins\":[{\"/\":\"" + cid + "\"}]}"),
            (4, 0, "{\"Key\":\"" + cid + "\",\"Size\":5}"),
            (5, 0, "{\"ID\":\"12D3KooW\",\"AgentVersion\":\"kubo/0.30.0\",\"Addresses\":[]}"),
            (6, 0, "{\"RepoSize\":\"1024\",\"StorageMax\":10000,\"NumObjects\":3}"),
            (7, 0, "{\"Root\":{\"Cid\":{\"/\":\"" + cid + "\"},\"PinErrorMsg\":\"\"}}\n"),
            (8, 1, "{\"Message\":\"context deadline exceeded\",\"Code\":0,\"Type\":\"error\"}"),
        ];
        return answers.Select((a, i) => ($"answer-{i}", (byte[])[a.Call, a.Status, 0, .. Encoding.UTF8.GetBytes(a.Body)]));
    }
}
