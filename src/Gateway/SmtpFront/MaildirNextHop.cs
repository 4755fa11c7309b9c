using Detach.Gateway.Delivery;
using Detach.Gateway.Processing;
using Detach.Smtp;

namespace Detach.Gateway.SmtpFront;

/// <summary>
/// The standalone next hop: with no NextHop configured, rewritten mail lands in {DataPath}/maildir, so
/// detach runs alone (swaks → detach → a Maildir file with links).
/// </summary>
public sealed class MaildirNextHop(MaildirWriter maildir) : INextHopSession
{
    public bool RepliesPerRecipient => false;

    public Task<SmtpReply> MailAsync(MailFromCommand mail, IReadOnlyDictionary<string, string?> client, CancellationToken cancellationToken) =>
        Task.FromResult(new SmtpReply(250, "2.1.0", "Ok"));

    public Task<SmtpReply> RcptAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
        Task.FromResult(new SmtpReply(250, "2.1.5", "Ok"));

    public async Task<IReadOnlyList<SmtpReply>> DataAsync(Stream message, CancellationToken cancellationToken)
    {
        await ThreadPoolHop.Now; // fsync
        var path = await maildir.DeliverAsync(message, cancellationToken).ConfigureAwait(false);
        return [new SmtpReply(250, "2.0.0", $"Ok: delivered as {Path.GetFileName(path)}")];
    }

    public Task ResetAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
