using System.Security.Cryptography;
using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// The documented before-queue setup, for real: a private Postfix whose inbound smtpd proxies each session to
/// an in-process detach, which relays (with XFORWARD) to Postfix's after-filter smtpd. Mailboxes alice, bob,
/// carol and sender (the local sender address, so any bounce would land somewhere visible).
/// </summary>
public sealed class PostfixWithDetach : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public const string Sender = "sender@example.test";

    private PostfixWithDetach(PostfixInstance postfix, DetachServer detach)
    {
        Postfix = postfix;
        Detach = detach;
    }

    public PostfixInstance Postfix { get; }

    public DetachServer Detach { get; }

    /// <summary>Starts Postfix (its proxy filter pointing at a port picked here) and detach on that port.</summary>
    public static async Task<PostfixWithDetach> StartAsync(
        CancellationToken cancellationToken,
        IEnumerable<string>? detachSettings = null,
        Func<PostfixOptions, PostfixOptions>? postfixOptions = null,
        RecordingTcpRelay? nextHopRelay = null)
    {
        var filterPort = FreePort.Next();
        var options = PostfixOptions.WithFilter(filterPort) with { Mailboxes = ["alice", "bob", "carol", "sender"] };
        options = postfixOptions?.Invoke(options) ?? options;
        var postfix = await PostfixInstance.StartAsync(options, cancellationToken);
        try
        {
            // A relay between detach and the after-filter smtpd lets a test read their dialogue.
            var nextHopPort = postfix.ReinjectPort;
            if (nextHopRelay is not null)
            {
                nextHopRelay.TargetPort = postfix.ReinjectPort;
                nextHopPort = nextHopRelay.Port;
            }

            var detach = await DetachServer.StartAsync(
                [$"Smtp:NextHop=smtp://127.0.0.1:{nextHopPort}", .. detachSettings ?? []], cancellationToken, filterPort);
            return new PostfixWithDetach(postfix, detach);
        }
        catch
        {
            await postfix.DisposeAsync();
            throw;
        }
    }

    /// <summary>A swaks run through Postfix's inbound port, from the local sender.</summary>
    public Swaks Swaks() => new Swaks(Postfix.InboundPort).From(Sender);

    /// <summary>Waits for the message with <paramref name="messageId"/> in <paramref name="mailbox"/>; returns every copy there (after the queue drained).</summary>
    public async Task<IReadOnlyList<DeliveredMail>> WaitForCopiesAsync(string mailbox, string messageId, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var copies = await CopiesAsync(mailbox, messageId, cancellationToken);
            if (copies.Count > 0)
            {
                await Postfix.WaitForEmptyQueueAsync(Patience, cancellationToken);
                return await CopiesAsync(mailbox, messageId, cancellationToken);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"No message {messageId} in {mailbox} after {Patience.TotalSeconds} s.\nPostfix log:\n{await Postfix.ReadLogAsync(cancellationToken)}\n" +
                    $"detach log:\n{string.Join('\n', Detach.Logs.TakeLast(30))}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>The copies of the message with <paramref name="messageId"/> delivered to <paramref name="mailbox"/> so far.</summary>
    public async Task<IReadOnlyList<DeliveredMail>> CopiesAsync(string mailbox, string messageId, CancellationToken cancellationToken)
    {
        var copies = new List<DeliveredMail>();
        foreach (var path in Postfix.MessagesIn(mailbox))
        {
            var mail = await DeliveredMail.ReadAsync(path, cancellationToken);
            if (mail.Header("Message-ID") == messageId)
            {
                copies.Add(mail);
            }
        }

        return copies;
    }

    public async ValueTask DisposeAsync()
    {
        await Detach.DisposeAsync();
        await Postfix.DisposeAsync();
    }
}

/// <summary>Random test files and their digests.</summary>
public static class TestFiles
{
    public static string WriteRandom(string directory, string name, int size)
    {
        var path = Path.Combine(directory, name);
        using var file = File.Create(path);
        var buffer = new byte[1024 * 1024];
        for (var left = size; left > 0; left -= buffer.Length)
        {
            RandomNumberGenerator.Fill(buffer);
            file.Write(buffer, 0, Math.Min(left, buffer.Length));
        }

        return path;
    }

    public static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(file));
    }

    /// <summary>48 bytes from the middle of the file at a multiple of 3, whose base64 would show in any encoding of the file.</summary>
    public static byte[] DistinctiveChunk(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var offset = bytes.Length / 2 / 3 * 3;
        return bytes.AsSpan(offset, Math.Min(48, bytes.Length - offset)).ToArray();
    }

    public static string NewMessageId(string tag) => $"<{tag}.{Guid.NewGuid():N}@e2e.example.test>";
}
