using System.Globalization;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;

namespace Detach.EndToEnd.Tests.Milter;

/// <summary>
/// The documented milter setup, for real: a private Postfix whose smtpd_milters and non_smtpd_milters (from
/// deploy/postfix/milter.cf.fragment) point at an in-process `detach serve` with only its milter listening.
/// Mailboxes alice, bob, carol and sender.
/// </summary>
public sealed class PostfixWithMilter : IAsyncDisposable
{
    public static readonly TimeSpan Patience = PostfixWithDetach.Patience;

    public const string Sender = PostfixWithDetach.Sender;

    private PostfixWithMilter(PostfixInstance postfix, DetachServer detach, int milterPort)
    {
        Postfix = postfix;
        Detach = detach;
        MilterPort = milterPort;
    }

    public PostfixInstance Postfix { get; }

    public DetachServer Detach { get; }

    public int MilterPort { get; }

    /// <param name="detachSettings">KEY=VALUE settings for detach on top of the milter's.</param>
    /// <param name="startDetach">False leaves the milter address unanswered (to see what Postfix does then).</param>
    public static async Task<PostfixWithMilter> StartAsync(CancellationToken cancellationToken, IEnumerable<string>? detachSettings = null, bool startDetach = true)
    {
        PeerBinaries.RequirePostfix();
        var port = FreePort.Next();
        var milter = $"inet:127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        var detach = startDetach
            ? await DetachServer.StartAsync([$"Milter:Listen={milter}", "Smtp:Listen=", .. detachSettings ?? []], cancellationToken)
            : null;
        try
        {
            var postfix = await PostfixInstance.StartAsync(
                PostfixOptions.Direct with { Mailboxes = ["alice", "bob", "carol", "sender"], MainSettings = MilterFragment.Settings(milter) },
                cancellationToken);
            return new PostfixWithMilter(postfix, detach!, port);
        }
        catch
        {
            if (detach is not null)
            {
                await detach.DisposeAsync();
            }

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
                    $"detach log:\n{string.Join('\n', Detach?.Logs.TakeLast(30) ?? [])}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

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
        await Postfix.DisposeAsync();
        if (Detach is not null)
        {
            await Detach.DisposeAsync();
        }
    }
}
