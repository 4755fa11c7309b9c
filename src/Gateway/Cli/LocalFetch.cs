using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Fetch;
using Detach.Gateway.Hosting;
using Detach.Gateway.Http;
using Detach.Vault;
using Detach.Vault.Storage;

namespace Detach.Gateway.Cli;

/// <summary>
/// `detach fetch --local`: the operator's path. Decrypts straight from this instance's store with its index, checking
/// every record before writing it; a bad key or a tampered record leaves no file behind. Downloads are not counted
/// and the sender is not notified: this is not a recipient's download.
/// </summary>
public static class LocalFetch
{
    public static async Task<int> RunAsync(DetachSettings settings, DownloadLink link, string? output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(error);
        if (LocalVault.WhyMissing(settings) is { } why)
        {
            await error.WriteLineAsync($"detach fetch: --local reads this instance's vault, but {why}. Drop --local to download from the link's host.").ConfigureAwait(false);
            return ExitCodes.NoInput;
        }

        await using var components = await VaultComponents.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
        PartialDownload? part = null;
        try
        {
            var (record, key) = await components.Vault.OpenAsync(link.Cid, link.LinkKey, cancellationToken).ConfigureAwait(false);
            using (key)
            {
                await using var ciphertext = await components.Store.OpenReadAsync(Cid.Parse(record.Cid), 0, null, cancellationToken).ConfigureAwait(false);
                await using var plaintext = new RecordDecryptStream(ciphertext, key);
                if (output == FetchTarget.StandardOutput)
                {
                    await using var stdout = Console.OpenStandardOutput();
                    await plaintext.CopyToAsync(stdout, cancellationToken).ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                var (folder, file) = new FetchTarget(output, Continue: false).Place();
                var name = FileNameText.ForSaving(record.FileName);
                var candidate = new PartialDownload(folder, link.Cid);
                var stream = candidate.Begin(new PartialDownload.State(null, record.PlaintextSize, name), append: false);
                part = candidate; // ours now: removed below unless complete
                await using (stream.ConfigureAwait(false))
                {
                    await plaintext.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
                    stream.Flush(flushToDisk: true);
                }

                var saved = part.Complete(file, name);
                part = null;
                await error.WriteLineAsync($"{saved}: {record.FileName}, {record.PlaintextSize} bytes, {record.ContentType}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
        catch (KeyNotFoundException)
        {
            await error.WriteLineAsync($"detach fetch: no attachment {link.Cid} in this vault ({settings.Root.FullDataPath}).").ConfigureAwait(false);
            return ExitCodes.NoInput;
        }
        catch (ContentNotFoundException)
        {
            await error.WriteLineAsync($"detach fetch: attachment {link.Cid} is indexed but its object is missing from the store.").ConfigureAwait(false);
            return ExitCodes.NoInput;
        }
        catch (AttachmentGoneException e)
        {
            await error.WriteLineAsync($"detach fetch: attachment {link.Cid} is gone ({e.Record.RevokedReason}, {e.Record.RevokedAt:u}); its key was erased.").ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }
        catch (RecordAuthenticationException e)
        {
            await error.WriteLineAsync($"detach fetch: integrity check failed at record {e.RecordIndex}: the key does not match this attachment, or the stored file was altered. Nothing from that record was written.").ConfigureAwait(false);
            return ExitCodes.DataError;
        }
        catch (InvalidDataException e)
        {
            await error.WriteLineAsync($"detach fetch: the stored file is damaged: {e.Message}").ConfigureAwait(false);
            return ExitCodes.DataError;
        }
        catch (StorageUnavailableException e)
        {
            await error.WriteLineAsync($"detach fetch: the store is unavailable: {e.Message}").ConfigureAwait(false);
            return ExitCodes.TempFail;
        }
        catch (FetchFailedException e)
        {
            await error.WriteLineAsync($"detach fetch: {e.Message}").ConfigureAwait(false);
            return e.ExitCode;
        }
        finally
        {
            // Plaintext that failed its check, or half a file: neither stays on disk.
            part?.Discard();
        }
    }
}
