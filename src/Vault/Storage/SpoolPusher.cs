using Detach.Vault.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Vault.Storage;

/// <summary>
/// Moves spooled attachments to the node once it is back: each one goes as a CAR through
/// <c>dag/import</c> (same blocks, same CID), is pinned, and only when the node confirms the pin
/// is the spool copy deleted. Unpins that found the node down (<see cref="PendingUnpins"/>) are done first.
/// Meant to be called periodically (a hosted service).
/// With the index, an object whose key share was erased meanwhile (revoked or expired, perhaps by
/// another instance sharing the vault, which could not unpin what only this spool held) is dropped
/// instead of pushed, and unpinned again if that happened while it was being pushed.
/// </summary>
public sealed class SpoolPusher
{
    private readonly LocalContentStore _spool;
    private readonly KuboClient _client;
    private readonly IAttachmentIndex? _index;
    private readonly PendingUnpins? _pendingUnpins;
    private readonly CarExporter _exporter;
    private readonly ILogger _logger;

    public SpoolPusher(
        LocalContentStore spool, KuboClient client, IAttachmentIndex? index = null, PendingUnpins? pendingUnpins = null, ILogger<SpoolPusher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(client);
        _spool = spool;
        _client = client;
        _index = index;
        _pendingUnpins = pendingUnpins;
        _exporter = new CarExporter(spool);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Pushes what is spooled; returns how many items moved. Stops early (no error) when the node goes away.</summary>
    public async Task<int> PushPendingAsync(CancellationToken ct)
    {
        if (!await UnpinPendingAsync(ct).ConfigureAwait(false))
        {
            return 0;
        }

        var pushed = 0;
        await foreach (var cid in _spool.ListAsync(ct).ConfigureAwait(false))
        {
            try
            {
                if (await IsErasedAsync(cid, ct).ConfigureAwait(false))
                {
                    await _spool.RemoveAsync(cid, ct).ConfigureAwait(false);
                    _logger.LogInformation("Dropped spooled {Cid}: its key share was erased, so it is not pushed", cid);
                    continue;
                }

                await _client.DagImportAsync((stream, token) => _exporter.WriteAsync(cid, stream, token), ct).ConfigureAwait(false);
                await _client.PinAddAsync(cid, ct).ConfigureAwait(false);

                // Checked after the pin: a revocation committed after this check unpins on its own (its unpin comes
                // after our pin), one committed before it is seen here.
                if (!await _spool.ContainsAsync(cid, ct).ConfigureAwait(false) || await IsErasedAsync(cid, ct).ConfigureAwait(false))
                {
                    // Removed (expired, revoked) while it was being pushed: do not leave it pinned.
                    await UnpinAsync(cid, ct).ConfigureAwait(false);
                    await _spool.RemoveAsync(cid, ct).ConfigureAwait(false);
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

    /// <summary>Unpins what waited for the node; false when the node is still down.</summary>
    private async Task<bool> UnpinPendingAsync(CancellationToken ct)
    {
        foreach (var cid in _pendingUnpins?.List() ?? [])
        {
            try
            {
                await UnpinAsync(cid, ct).ConfigureAwait(false);
                _pendingUnpins!.Remove(cid);
                _logger.LogInformation("Unpinned {Cid}, which waited for the IPFS node", cid);
            }
            catch (KuboUnavailableException e)
            {
                _logger.LogWarning("IPFS node still unavailable ({Error}); unpins kept", e.Message);
                return false;
            }
            catch (KuboException e)
            {
                _logger.LogError(e, "Could not unpin {Cid}; kept for the next run", cid);
            }
        }

        return true;
    }

    /// <summary>
    /// True only when the index holds the CID with its key share erased. An unknown CID is kept: its record may
    /// not be written yet (the store is written before the index), and dropping it then would lose the attachment.
    /// </summary>
    private async Task<bool> IsErasedAsync(Cid cid, CancellationToken ct) =>
        _index is not null && await _index.FindByCidAsync(cid.ToString(), ct).ConfigureAwait(false) is { IsShredded: true };

    private async Task UnpinAsync(Cid cid, CancellationToken ct)
    {
        try
        {
            await _client.PinRmAsync(cid, ct).ConfigureAwait(false);
        }
        catch (KuboNotFoundException)
        {
            // The instance that revoked it unpinned it first.
        }
    }
}
