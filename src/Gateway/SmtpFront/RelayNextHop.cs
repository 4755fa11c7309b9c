using System.Net;
using System.Net.Sockets;
using Detach.Gateway.Configuration;
using Detach.Smtp;

namespace Detach.Gateway.SmtpFront;

/// <summary>
/// One connection to the next hop per client session (never shared: a failure in one session must not
/// touch another's mail). Replies of the next hop are returned verbatim, so Postfix sees its own verdicts.
/// </summary>
public sealed class RelayNextHop : INextHopSession
{
    private readonly SmtpRelayClient client;

    private RelayNextHop(SmtpRelayClient client)
    {
        this.client = client;
    }

    public bool RepliesPerRecipient => client.IsLmtp;

    public static async Task<RelayNextHop> ConnectAsync(NextHopAddress address, string clientName, TimeSpan timeout, bool inlineCompletions, CancellationToken cancellationToken)
    {
        var options = new SmtpRelayClientOptions
        {
            ClientName = clientName,
            InlineCompletions = inlineCompletions,
            Lmtp = address.Lmtp,
            ConnectTimeout = TimeSpan.FromSeconds(Math.Min(30, timeout.TotalSeconds)),
            CommandTimeout = timeout,
            DataTimeout = timeout,
        };
        EndPoint endPoint = address.SocketPath is not null
            ? new UnixDomainSocketEndPoint(address.SocketPath)
            : IPAddress.TryParse(address.Host, out var ip) ? new IPEndPoint(ip, address.Port) : new DnsEndPoint(address.Host!, address.Port);
        return new RelayNextHop(await SmtpRelayClient.OpenAsync(endPoint, options, cancellationToken).ConfigureAwait(false));
    }

    public SmtpCapabilities Capabilities => client.Capabilities;

    public Task<SmtpReply> MailAsync(MailFromCommand mail, IReadOnlyDictionary<string, string?> clientIdentity, CancellationToken cancellationToken) =>
        client.MailAsync(mail, clientIdentity, cancellationToken);

    public Task<SmtpReply> RcptAsync(RcptToCommand recipient, CancellationToken cancellationToken) =>
        client.RcptAsync(recipient, cancellationToken);

    public Task<IReadOnlyList<SmtpReply>> DataAsync(Stream message, CancellationToken cancellationToken) =>
        client.DataAsync(message, cancellationToken);

    public bool IsUsable => client.IsUsable;

    /// <summary>
    /// Ends a transaction left open downstream by closing the connection (QUIT), not with RSET: the after-filter smtpd
    /// counts RSETs as junk commands until mail is delivered (smtpd_junk_command_limit), so a pooled connection carrying
    /// a run of failed transactions would soon have every reply delayed and then be dropped ("too many errors after
    /// RSET"). The session opens a fresh connection for its next transaction. A connection between transactions is
    /// left as it is.
    /// </summary>
    public async Task ResetAsync(CancellationToken cancellationToken)
    {
        if (client.IsUsable && client.InTransaction)
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Abort() => client.Abort();

    public async ValueTask DisposeAsync()
    {
        using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.QuitAsync(quit.Token).ConfigureAwait(false);
    }
}
