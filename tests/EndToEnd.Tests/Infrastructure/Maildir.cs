namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>Reading a Maildir the delivery agents (Postfix virtual, Dovecot LMTP) wrote.</summary>
public static class Maildir
{
    /// <summary>Paths of the delivered messages (new/ and cur/), oldest first; empty while the Maildir does not exist.</summary>
    public static IReadOnlyList<string> Messages(string maildir) =>
        new[] { "new", "cur" }
            .Select(sub => Path.Combine(maildir, sub))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateFiles)

            // Maildir names start with the delivery time in seconds, so name order is delivery order.
            .OrderBy(path => Path.GetFileName(path), StringComparer.Ordinal)
            .ToArray();

    /// <summary>
    /// Waits until <paramref name="maildir"/> holds at least <paramref name="count"/> messages and returns them.
    /// On timeout, throws with <paramref name="describeState"/>'s text (e.g. the end of the server's log).
    /// </summary>
    public static async Task<IReadOnlyList<string>> WaitForMessagesAsync(
        string maildir,
        int count,
        TimeSpan timeout,
        Func<CancellationToken, Task<string>> describeState,
        CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var messages = Messages(maildir);
            if (messages.Count >= count)
            {
                return messages;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"{maildir} has {messages.Count} of {count} messages after {timeout.TotalSeconds:0.#} s.\n" +
                    await describeState(cancellationToken));
            }

            await Task.Delay(50, cancellationToken);
        }
    }
}
