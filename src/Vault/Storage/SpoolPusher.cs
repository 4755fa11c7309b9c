using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Vault.Storage;

/// <summary>
/// Moves spooled attachments to the node once it is back: each one goes as a CAR through
/// <c>dag/import</c> (same blocks, same CID), is pinned, and only when the node confirms the pin
/// is the spool copy deleted. Meant to be called periodically (a hosted service).
/// </summary>
public sealed class SpoolPusher
{
    private readonly LocalContentStore _spool;
    private readonly KuboClient _client;
    private readonly CarExporter _exporter;
    private readonly ILogger _logger;

    public SpoolPusher(LocalContentStore spool, KuboClient client, ILogger<SpoolPusher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(client);
        _spool = spool;
        _client = client;
        _exporter = new CarExporter(spool);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Pushes what is spooled; returns how many items moved. Stops early (no error) when the node goes away.</summary>
    public async Task<int> PushPendingAsync(CancellationToken ct)
    {
        var pushed = 0;
        await foreach (var cid in _spool.ListAsync(ct).ConfigureAwait(false))
        {
            try
            {
                await _client.DagImportAsync((stream, token) => _exporter.WriteAsync(cid, stream, token), ct).ConfigureAwait(false);
                await _client.PinAddAsync(cid, ct).ConfigureAwait(false);
                if (!await _spool.ContainsAsync(cid, ct).ConfigureAwait(false))
                {
                    // Removed (expired, revoked) while it was being pushed: do not leave it pinned.
                    await _client.PinRmAsync(cid, ct).ConfigureAwait(false);
                    continue;
                }
                await _spool.RemoveAsync(cid, ct).ConfigureAwait(false);
                pushed++;
                _logger.LogInformation("Pushed spooled {Cid} to the IPFS node", cid);
            }
            catch (KuboUnavailableException e)
            {
                _logger.LogWarning("IPFS node still unavailable ({Error}); spool kept", e.Message);
                break;
            }
            catch (ContentNotFoundException)
            {
                // Removed meanwhile.
            }
            catch (Exception e) when (e is KuboException or InvalidDataException)
            {
                _logger.LogError(e, "Could not push spooled {Cid}; it stays in the spool", cid);
            }
        }
        return pushed;
    }
}
