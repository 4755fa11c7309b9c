using System.CommandLine;
using System.Security.Cryptography;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Milter;
using Detach.Gateway.Scanning;
using Detach.Gateway.SmtpFront;
using Detach.Scanning;
using Detach.Vault.Storage;

namespace Detach.Gateway.Cli;

/// <summary>
/// `detach check`: what admins get wrong, checked against the real services: data folder, public URL, index,
/// store (a probe is added, read back and removed), next hop (answers, announces XFORWARD), the milter listener
/// when Milter:Listen is set (answers an option negotiation as Postfix sends it), and the scanner (clamd answers and
/// scans a probe).
/// </summary>
public static class CheckCommand
{
    public sealed record CheckResult(string Name, bool Ok, string Detail);

    public static Command Create()
    {
        var command = new Command("check", "Check the configuration against the real services; exits 1 if anything fails.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var results = await RunAsync(DetachCommandLine.LoadSettings(parse), cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine(Format(results));
            return results.All(r => r.Ok) ? ExitCodes.Ok : 1;
        });
        return command;
    }

    public static string Format(IEnumerable<CheckResult> results) =>
        string.Join(Environment.NewLine, results.Select(r => $"{(r.Ok ? "ok  " : "FAIL")}  {r.Name,-12}  {r.Detail}"));

    public static async Task<IReadOnlyList<CheckResult>> RunAsync(DetachSettings settings, CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>
        {
            new("config", true, "all settings valid"),
            new("public url", true, $"links will read {settings.Root.PublicUrl.TrimEnd('/')}/d/<cid>#<key>"),
            CheckDataFolder(settings.Root.FullDataPath),
        };

        if (Directory.Exists(settings.Root.FullDataPath))
        {
            results.AddRange(await CheckVaultAsync(settings, cancellationToken).ConfigureAwait(false));
        }
        else
        {
            // Opening the vault would create the folder: a check must not make what it reports missing. (In an existing
            // folder it creates the index as serve would, which is what the index and store checks are for.)
            results.Add(new("index", false, "not checked: no data folder"));
        }

        // The peers answer or not whatever the state of the data folder.
        results.Add(await CheckNextHopAsync(settings, cancellationToken).ConfigureAwait(false));
        if (!string.IsNullOrWhiteSpace(settings.Milter.Listen))
        {
            var (ok, detail) = await MilterProbe.ProbeAsync(settings.Milter.Listen, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            results.Add(new("milter", ok, ok ? detail : detail + " (is `detach serve` running with this Milter:Listen?)"));
        }

        results.Add(await CheckScannerAsync(settings, cancellationToken).ConfigureAwait(false));
        return results;
    }

    private static async Task<IReadOnlyList<CheckResult>> CheckVaultAsync(DetachSettings settings, CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>();
        VaultComponents? components = null;
        try
        {
            components = await VaultComponents.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            var ping = await components.Index.PingAsync(cancellationToken).ConfigureAwait(false);
            results.Add(new("index", ping, ping ? $"{settings.Index.Kind} index open and migrated" : "the index does not answer"));
            results.Add(await CheckStoreAsync(settings, components.Store, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            results.Add(new("index", false, $"cannot open the index: {e.Message}"));
        }
        finally
        {
            if (components is not null)
            {
                await components.DisposeAsync().ConfigureAwait(false);
            }
        }

        return results;
    }

    private static CheckResult CheckDataFolder(string path)
    {
        if (!Directory.Exists(path))
        {
            return new("data folder", false, $"{path} does not exist: start detach serve once (it creates it), or create it writable by the user detach runs as");
        }

        try
        {
            var probe = Path.Combine(path, $".check-{Environment.ProcessId}");
            using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
                file.Write("probe"u8);
                file.Flush(flushToDisk: true);
            }

            return new("data folder", true, $"{path} is writable");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new("data folder", false, $"{path} is not writable: {e.Message}");
        }
    }

    private static async Task<CheckResult> CheckStoreAsync(DetachSettings settings, IContentStore store, CancellationToken cancellationToken)
    {
        var where = settings.Vault.EffectiveStore == StoreKind.Ipfs ? $"IPFS node at {settings.Vault.IpfsApiUrl}" : "local store";
        try
        {
            if (!await store.IsAvailableAsync(cancellationToken).ConfigureAwait(false))
            {
                return new("store", false, $"{where} does not answer");
            }

            var probe = RandomNumberGenerator.GetBytes(4096);
            var stored = await store.AddAsync(new MemoryStream(probe), cancellationToken).ConfigureAwait(false);
            try
            {
                await using var back = await store.OpenReadAsync(stored.Cid, 0, null, cancellationToken).ConfigureAwait(false);
                var copy = new MemoryStream();
                await back.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                if (!copy.ToArray().AsSpan().SequenceEqual(probe))
                {
                    return new("store", false, $"{where} returned different bytes for probe {stored.Cid}");
                }
            }
            finally
            {
                await store.RemoveAsync(stored.Cid, cancellationToken).ConfigureAwait(false);
            }

            return new("store", true, $"{where}: probe added, read back and removed");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new("store", false, $"{where}: {e.Message}");
        }
    }

    /// <summary>clamd answers PING and VERSION and scans a random probe as clean (a scanner that flags everything refuses all mail).</summary>
    private static async Task<CheckResult> CheckScannerAsync(DetachSettings settings, CancellationToken cancellationToken)
    {
        if (ScanInspector.CreateClient(settings.Scan) is not { } clamd)
        {
            return new("scanner", true, "none: attachments are stored unscanned (Scan:Clamd is empty)");
        }

        try
        {
            if (!await clamd.PingAsync(cancellationToken).ConfigureAwait(false))
            {
                return new("scanner", false, $"{clamd.Name} does not answer PING with PONG");
            }

            var version = await clamd.VersionAsync(cancellationToken).ConfigureAwait(false);
            var probe = await clamd.ScanAsync(new MemoryStream(RandomNumberGenerator.GetBytes(4096)), cancellationToken).ConfigureAwait(false);
            return probe.Infected
                ? new("scanner", false, $"{clamd.Name} ({version}) reports random bytes as {probe.Signature}: it would flag every attachment")
                : new("scanner", true, $"{clamd.Name} answers ({version}) and scanned a probe; infected: {settings.Scan.WhenInfected}, scanner down: {settings.Scan.WhenScannerDown}");
        }
        catch (ScannerException e)
        {
            return new("scanner", false, $"{e.Message} (is clamd running and listening there: TCPSocket/TCPAddr or LocalSocket in clamd.conf, and may detach's user open the socket?)");
        }
    }

    private static async Task<CheckResult> CheckNextHopAsync(DetachSettings settings, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(settings.Smtp.NextHop))
        {
            var maildir = Path.Combine(settings.Root.FullDataPath, "maildir");
            return new("next hop", true, $"none: mail is delivered to the Maildir {maildir}");
        }

        NextHopAddress.TryParse(settings.Smtp.NextHop, out var address, out _);
        try
        {
            await using var next = await RelayNextHop.ConnectAsync(address!, settings.Smtp.ServerName, TimeSpan.FromSeconds(10), inlineCompletions: false, cancellationToken).ConfigureAwait(false);
            if (address!.Lmtp)
            {
                return new("next hop", true, $"{address} answers LHLO");
            }

            var attributes = next.Capabilities.XforwardAttributes;
            return attributes.Contains("ADDR")
                ? new("next hop", true, $"{address} answers and announces XFORWARD ({string.Join(' ', attributes.Order(StringComparer.Ordinal))})")
                : new("next hop", false, $"{address} answers but does not announce XFORWARD to us: set smtpd_authorized_xforward_hosts on the after-filter smtpd (see docs/postfix.md), or its log and policy checks will see detach instead of the sending client");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new("next hop", false, $"{address}: {e.Message}");
        }
    }
}
