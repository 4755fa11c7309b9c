namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>How a <see cref="PostfixInstance"/> is set up.</summary>
public sealed record PostfixOptions
{
    /// <summary>The only domain the instance delivers locally (into Maildirs).</summary>
    public const string Domain = "example.test";

    /// <summary>
    /// Port on 127.0.0.1 where the inbound smtpd's proxy filter (detach, or a test-controlled server)
    /// listens. Null runs the inbound smtpd without a proxy filter, so mail goes straight into the queue.
    /// </summary>
    public int? FilterPort { get; init; }

    /// <summary>Local parts with a Maildir under example.test; <c>postmaster</c> is always added.</summary>
    public IReadOnlyList<string> Mailboxes { get; init; } = ["alice", "bob", "carol"];

    /// <summary>message_size_limit; large enough by default for 30 MiB attachments after base64.</summary>
    public long MessageSizeLimit { get; init; } = 60L * 1024 * 1024;

    /// <summary>smtpd_proxy_timeout: how long the inbound smtpd waits for each reply from the proxy.</summary>
    public TimeSpan ProxyTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>main.cf settings applied with <c>postconf -e</c> over the defaults (e.g. virtual_transport).</summary>
    public IReadOnlyDictionary<string, string> MainSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>An instance whose inbound smtpd queues mail itself (no proxy filter).</summary>
    public static PostfixOptions Direct { get; } = new();

    /// <summary>An instance whose inbound smtpd proxies each session to 127.0.0.1:<paramref name="filterPort"/>.</summary>
    public static PostfixOptions WithFilter(int filterPort) => new() { FilterPort = filterPort };
}
