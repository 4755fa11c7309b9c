using System.CommandLine;
using Detach.Crypto;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Vault;
using Detach.Vault.Storage;

namespace Detach.Gateway.Cli;

/// <summary>
/// `detach fetch LINK [-o FILE]`: the command-line twin of the download gateway. Decrypts from the store,
/// checking every record before writing it; a bad key or a tampered record leaves no file behind.
/// </summary>
public static class FetchCommand
{
    public static Command Create()
    {
        var link = new Argument<string>("link") { Description = "The whole link from the mail, including the #key." };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the file here instead of standard output." };
        var command = new Command("fetch", "Decrypt an attachment from the vault, given its link.") { link, output };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = DetachCommandLine.LoadSettings(parse);
            return await RunAsync(settings, parse.GetValue(link)!, parse.GetValue(output), Console.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static async Task<int> RunAsync(DetachSettings settings, string linkText, FileInfo? output, TextWriter error, CancellationToken cancellationToken)
    {
        DownloadLink link;
        try
        {
            link = DownloadLink.Parse(linkText.Trim());
        }
        catch (FormatException e)
        {
            await error.WriteLineAsync($"detach fetch: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        await using var components = await VaultComponents.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
        string? partial = null;
        try
        {
            var (record, key) = await components.Vault.OpenAsync(link.Cid, link.LinkKey, cancellationToken).ConfigureAwait(false);
            using (key)
            {
                await using var ciphertext = await components.Store.OpenReadAsync(Cid.Parse(record.Cid), 0, null, cancellationToken).ConfigureAwait(false);
                await using var plaintext = new RecordDecryptStream(ciphertext, key);
                if (output is null)
                {
                    await using var stdout = Console.OpenStandardOutput();
                    await plaintext.CopyToAsync(stdout, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // Decrypt beside the target and rename at the end, so a failure never leaves a partial file.
                    partial = Path.Combine(output.DirectoryName ?? ".", $".{output.Name}.{Environment.ProcessId}.partial");
                    await using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
                    {
                        await plaintext.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                    }

                    File.Move(partial, output.FullName, overwrite: true);
                    partial = null;
                    await error.WriteLineAsync($"{output.FullName}: {record.FileName}, {record.PlaintextSize} bytes, {record.ContentType}").ConfigureAwait(false);
                }
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
            return ExitCodes.NoInput;
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
        finally
        {
            if (partial is not null)
            {
                File.Delete(partial);
            }
        }
    }
}
