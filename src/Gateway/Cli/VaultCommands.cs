using System.CommandLine;
using System.Globalization;
using Detach.Gateway.Hosting;
using Detach.Mime;
using Detach.Vault.Index;

namespace Detach.Gateway.Cli;

/// <summary>`detach vault ...`: what the vault holds, what it saved, and how to destroy or move files.</summary>
public static class VaultCommands
{
    public static Command Create()
    {
        var vault = new Command("vault", "Inspect and manage stored attachments.");
        vault.Subcommands.Add(List());
        vault.Subcommands.Add(Stats());
        vault.Subcommands.Add(Revoke());
        vault.Subcommands.Add(Gc());
        vault.Subcommands.Add(Push());
        return vault;
    }

    private static Command List()
    {
        var status = new Option<AttachmentStatus>("--status") { Description = "Any, Active, Revoked or Expired.", DefaultValueFactory = _ => AttachmentStatus.Any };
        var messageId = new Option<string?>("--message-id") { Description = "Only the attachments of this Message-ID." };
        var limit = new Option<int>("--limit") { Description = "How many, newest first.", DefaultValueFactory = _ => 100 };
        var command = new Command("ls", "List stored attachments, newest first.") { status, messageId, limit };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var components = await LocalVault.OpenAsync(DetachCommandLine.LoadSettings(parse), cancellationToken).ConfigureAwait(false);
            var query = new IndexQuery
            {
                Status = parse.GetValue(status),
                MessageId = parse.GetValue(messageId),
                Limit = Math.Clamp(parse.GetValue(limit), 1, IndexQuery.MaxLimit),
                NewestFirst = true,
            };
            var records = await components.Index.ListAsync(query, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine(FormatList(records, DateTimeOffset.UtcNow));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string FormatList(IReadOnlyList<AttachmentRecord> records, DateTimeOffset now)
    {
        var lines = new List<string> { "CID\tSIZE\tRCPTS\tCREATED\tEXPIRES\tSTATE\tDOWNLOADS\tFILE\tMESSAGE-ID" };
        foreach (var r in records)
        {
            var state = r.IsShredded ? $"{r.RevokedReason}" : r.ExpiresAt <= now ? "expired" : r.StoreState.ToString().ToLowerInvariant();
            lines.Add(string.Join('\t', r.Cid, SizeText.Format(r.PlaintextSize), r.RecipientCount.ToString(CultureInfo.InvariantCulture),
                r.CreatedAt.ToString("u", CultureInfo.InvariantCulture), r.ExpiresAt.ToString("u", CultureInfo.InvariantCulture),
                state, r.Downloads.ToString(CultureInfo.InvariantCulture), Printable(r.FileName), Printable(r.MessageId)));
        }

        lines.Add($"{records.Count} attachment(s)");
        return string.Join(Environment.NewLine, lines);
    }

    private static Command Stats()
    {
        var command = new Command("stats", "The storage economy: bytes stored once versus what every recipient's mailbox would have held.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var components = await LocalVault.OpenAsync(DetachCommandLine.LoadSettings(parse), cancellationToken).ConfigureAwait(false);
            var economy = await components.Index.GetEconomyAsync(cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine(FormatEconomy(economy));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Sizes written as the mail notice and the download page write them (<see cref="SizeText"/>): "9.1 kB".</summary>
    public static string FormatEconomy(StorageEconomy e) => string.Join(Environment.NewLine,
        $"Messages with detached attachments: {e.Messages} ({e.LiveMessages} with live links)",
        $"Attachments stored:                 {e.Attachments} ({e.LiveAttachments} live, {e.ShreddedAttachments} shredded, {e.SpooledAttachments} pending, {e.OrphanedAttachments} orphaned)",
        $"Stored once (ciphertext):           {SizeText.Format(e.StoredBytes)} ({SizeText.Format(e.LiveStoredBytes)} live)",
        $"Would have cost in mailboxes:       {SizeText.Format(e.MailboxBytes)} ({SizeText.Format(e.LiveMailboxBytes)} live)",
        $"Saved:                              {SizeText.Format(Math.Max(0, e.MailboxBytes - e.StoredBytes))}",
        $"Ratio (mailbox bytes per stored):   {e.Ratio.ToString("0.00", CultureInfo.InvariantCulture)}x ({e.LiveRatio.ToString("0.00", CultureInfo.InvariantCulture)}x live)");

    private static Command Revoke()
    {
        var target = new Argument<string>("cid-or-message-id") { Description = "A CID, or a Message-ID (with or without <>) to revoke all its attachments." };
        var reason = new Option<string>("--reason") { Description = "Recorded in the index and shown on the link's page.", DefaultValueFactory = _ => RevocationReasons.RevokedByAdmin };
        var command = new Command("revoke", "Erase the key share now: the file becomes undecryptable everywhere, and its pin is removed.") { target, reason };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var components = await LocalVault.OpenAsync(DetachCommandLine.LoadSettings(parse), cancellationToken).ConfigureAwait(false);
            var value = parse.GetValue(target)!.Trim();
            var revoked = await components.Vault.RevokeAsync(value, parse.GetValue(reason)!, cancellationToken).ConfigureAwait(false);
            if (revoked.Count == 0 && !value.StartsWith('<'))
            {
                revoked = await components.Vault.RevokeAsync($"<{value}>", parse.GetValue(reason)!, cancellationToken).ConfigureAwait(false);
            }

            foreach (var record in revoked)
            {
                Console.Out.WriteLine($"revoked {record.Cid} {Printable(record.FileName)}");
            }

            if (revoked.Count == 0)
            {
                await Console.Error.WriteLineAsync($"detach vault revoke: nothing live matches '{Printable(value)}'.").ConfigureAwait(false);
                return ExitCodes.NoInput;
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Gc()
    {
        var orphanAge = new Option<TimeSpan>("--orphan-age")
        {
            Description = "Collect objects of mail never sent on once they are this old (e.g. 00:10:00). A message still "
                + "being processed that loses its objects this way is answered 4xx and retried, never sent with dead links.",
            DefaultValueFactory = _ => VaultMaintenanceService.OrphanAge,
        };
        var command = new Command("gc", "Erase keys past retention, remove objects of mail never sent on, push spooled objects to the node.") { orphanAge };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var components = await LocalVault.OpenAsync(DetachCommandLine.LoadSettings(parse), cancellationToken).ConfigureAwait(false);
            var expired = await components.Vault.ExpireAsync(cancellationToken).ConfigureAwait(false);
            var orphans = await components.Vault.CollectOrphansAsync(parse.GetValue(orphanAge), cancellationToken).ConfigureAwait(false);
            var pushed = components.Spool is null ? 0 : await components.Spool.PushPendingAsync(cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine($"expired {expired.Count}, orphans removed {orphans.Count}, spooled objects pushed {pushed}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Push()
    {
        var command = new Command("push", "Copy every live object of the local store to the IPFS node (Vault:IpfsApiUrl) as a CAR; links stay valid.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = DetachCommandLine.LoadSettings(parse);
            await using var components = await LocalVault.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            var pushed = await components.PushLocalToNodeAsync(Console.Out, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine($"{pushed} object(s) pushed");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>File names and Message-IDs come from senders: keep control characters off the operator's terminal.</summary>
    internal static string Printable(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) || c is '\u202E' or '\u202D' or '\u2066' or '\u2067' or '\u2068' or '\u2069' ? '?' : c));
}
