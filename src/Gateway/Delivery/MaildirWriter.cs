using System.Globalization;
using Detach.Vault.Storage;

namespace Detach.Gateway.Delivery;

/// <summary>
/// Delivers a message into a Maildir the way qmail defined it: written under tmp/, flushed to disk,
/// then renamed into new/, so a reader never sees half a message and a crash never loses an accepted one.
/// </summary>
public sealed class MaildirWriter(string root)
{
    private static long _sequence;

    public string Root { get; } = Path.GetFullPath(root);

    public async Task<string> DeliverAsync(Stream message, CancellationToken cancellationToken)
    {
        foreach (var sub in (ReadOnlySpan<string>)["tmp", "new", "cur"])
        {
            Directory.CreateDirectory(Path.Combine(Root, sub));
        }

        var name = UniqueName();
        var tmp = Path.Combine(Root, "tmp", name);
        var target = Path.Combine(Root, "new", name);
        try
        {
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                await message.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            File.Move(tmp, target);
            DirectorySync.Flush(Path.Combine(Root, "new"));
            return target;
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private static string UniqueName()
    {
        var now = DateTimeOffset.UtcNow;
        var seq = Interlocked.Increment(ref _sequence);
        return string.Create(CultureInfo.InvariantCulture,
            $"{now.ToUnixTimeSeconds()}.M{now.Millisecond * 1000}P{Environment.ProcessId}Q{seq}.{Environment.MachineName}");
    }
}
