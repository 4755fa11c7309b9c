using System.Globalization;
using System.Text;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A private Postfix instance run as root from its own config_directory and queue_directory in a temporary
/// folder, listening on 127.0.0.1 only:
/// <list type="bullet">
/// <item>the inbound smtpd on <see cref="InboundPort"/>, which (unless <see cref="PostfixOptions.FilterPort"/> is null)
/// hands each session to the before-queue proxy on 127.0.0.1:<see cref="FilterPort"/>;</item>
/// <item>the after-filter smtpd on <see cref="ReinjectPort"/>, which trusts XFORWARD from 127.0.0.0/8;</item>
/// <item>the virtual agent, delivering example.test mailboxes into Maildirs (as uid/gid 65534).</item>
/// </list>
/// Both smtpd services come from deploy/postfix/master.cf.fragment and main.cf.fragment, the files
/// docs/postfix.md documents for admins. It never touches the system Postfix.
/// </summary>
public sealed class PostfixInstance : IAsyncDisposable
{
    /// <summary>Set to 1 to keep instance folders (config, queue, Maildirs, log) after the test, for debugging.</summary>
    public const string KeepDirectoriesVariable = TestDirectories.KeepVariable;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly PostfixOptions _options;
    private bool _started;

    private PostfixInstance(PostfixOptions options, string directory, int inboundPort, int reinjectPort)
    {
        _options = options;
        Directory = directory;
        InboundPort = inboundPort;
        ReinjectPort = reinjectPort;
    }

    /// <summary>The instance's temporary folder: etc/ (config_directory), queue/, data/, mail/, postfix.log.</summary>
    public string Directory { get; }

    public string ConfigDirectory => Path.Combine(Directory, "etc");

    public string QueueDirectory => Path.Combine(Directory, "queue");

    /// <summary>data_directory (master.lock, caches), owned by the postfix user.</summary>
    public string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>virtual_mailbox_base: one Maildir per mailbox below it.</summary>
    public string MailDirectory => Path.Combine(Directory, "mail");

    /// <summary>Postfix's maillog_file (written by the postlog service; there is no syslog here).</summary>
    public string LogFile => Path.Combine(Directory, "postfix.log");

    /// <summary>The inbound (before-filter) smtpd, where clients connect.</summary>
    public int InboundPort { get; }

    /// <summary>The after-filter smtpd the proxy relays to.</summary>
    public int ReinjectPort { get; }

    /// <summary>Where the inbound smtpd connects as proxy filter; null when it has none.</summary>
    public int? FilterPort => _options.FilterPort;

    /// <summary>The mailboxes that exist, postmaster included.</summary>
    public IReadOnlyList<string> Mailboxes { get; private set; } = [];

    /// <summary>The main.cf the instance runs with, as written.</summary>
    public string MainCf { get; private set; } = string.Empty;

    /// <summary>The master.cf the instance runs with, as written.</summary>
    public string MasterCf { get; private set; } = string.Empty;

    /// <summary>Writes the configuration, starts Postfix, and waits until both smtpd services accept connections.</summary>
    public static Task<PostfixInstance> StartAsync(PostfixOptions options, CancellationToken cancellationToken) =>
        FreePort.RetryWhenTakenAsync(() => StartOnFreePortsAsync(options, cancellationToken));

    private static async Task<PostfixInstance> StartOnFreePortsAsync(PostfixOptions options, CancellationToken cancellationToken)
    {
        PeerBinaries.RequirePostfix();
        var directory = System.IO.Directory.CreateTempSubdirectory("detach-postfix-").FullName;
        int[] ports;
        do
        {
            ports = [.. FreePort.Next(2)];
        }
        while (options.FilterPort is { } filter && ports.Contains(filter));

        var instance = new PostfixInstance(options, directory, ports[0], ports[1]);
        try
        {
            await instance.ConfigureAsync(cancellationToken);
            await instance.RunPostfixAsync("start", cancellationToken);
            instance._started = true;
            await FreePort.WaitUntilListeningAsync(instance.InboundPort, TimeSpan.FromSeconds(20), cancellationToken);
            await FreePort.WaitUntilListeningAsync(instance.ReinjectPort, TimeSpan.FromSeconds(20), cancellationToken);
            return instance;
        }
        catch (Exception e) when (e is not OperationCanceledException and not Xunit.Sdk.SkipException)
        {
            var log = await instance.ReadLogAsync(CancellationToken.None);
            await instance.DisposeAsync();

            // The master's bind error reaches neither its output nor maillog_file, so look for the culprit.
            var taken = new[] { instance.InboundPort, instance.ReinjectPort }.Where(p => !FreePort.IsFree(p)).ToArray();
            var reason = taken.Length > 0 ? $" Port {string.Join(", ", taken)}: {FreePort.TakenMessage}." : string.Empty;
            throw new InvalidOperationException($"Postfix instance in {directory} did not start.{reason}\nLog:\n{log}", e);
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    /// <summary>The address of a local mailbox, e.g. <c>alice@example.test</c>.</summary>
    public static string Address(string mailbox) => $"{mailbox}@{PostfixOptions.Domain}";

    /// <summary>The Maildir of a local mailbox (it exists once the first message arrives).</summary>
    public string MaildirFor(string mailbox) => Path.Combine(MailDirectory, mailbox);

    /// <summary>Paths of the messages delivered to <paramref name="mailbox"/> so far, oldest first.</summary>
    public IReadOnlyList<string> MessagesIn(string mailbox) => Maildir.Messages(MaildirFor(mailbox));

    /// <summary>
    /// Waits until <paramref name="mailbox"/> holds at least <paramref name="count"/> messages and returns their
    /// paths, oldest first. On timeout, throws with the end of Postfix's log.
    /// </summary>
    public Task<IReadOnlyList<string>> WaitForMailAsync(
        string mailbox, int count, TimeSpan timeout, CancellationToken cancellationToken) =>
        Maildir.WaitForMessagesAsync(
            MaildirFor(mailbox), count, timeout,
            async cancellationToken => $"Postfix log (end):\n{await ReadLogTailAsync(cancellationToken)}",
            cancellationToken);

    /// <summary>Postfix's log so far.</summary>
    public Task<string> ReadLogAsync(CancellationToken cancellationToken) => LogFiles.ReadAsync(LogFile, cancellationToken);

    /// <summary>Waits until a log line contains <paramref name="text"/>; returns that line.</summary>
    public async Task<string> WaitForLogAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = (await ReadLogAsync(cancellationToken))
                .Split('\n')
                .FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"No Postfix log line contains \"{text}\" after {timeout.TotalSeconds:0.#} s.\n" +
                    $"Postfix log (end):\n{await ReadLogTailAsync(cancellationToken)}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>The queue as <c>postqueue -j</c> prints it: one JSON object per queued message.</summary>
    public async Task<IReadOnlyList<string>> ListQueueAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(PeerBinaries.Postqueue!, ["-c", ConfigDirectory, "-j"], cancellationToken);
        return result.EnsureSuccess().StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>True when no message is in any queue (incoming, active, deferred, hold).</summary>
    public async Task<bool> QueueIsEmptyAsync(CancellationToken cancellationToken) =>
        (await ListQueueAsync(cancellationToken)).Count == 0;

    /// <summary>Waits until the queue is empty (mail delivered or bounced); throws with the queue and log on timeout.</summary>
    public async Task WaitForEmptyQueueAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var queue = await ListQueueAsync(cancellationToken);
            if (queue.Count == 0)
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"Queue not empty after {timeout.TotalSeconds:0.#} s:\n{string.Join('\n', queue)}\n" +
                    $"Postfix log (end):\n{await ReadLogTailAsync(cancellationToken)}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Makes deferred mail retry now (<c>postqueue -f</c>).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken) =>
        (await RunAsync(PeerBinaries.Postqueue!, ["-c", ConfigDirectory, "-f"], cancellationToken)).EnsureSuccess();

    /// <summary>Runs <c>postfix check</c> on the instance's configuration (about 2 s); warnings are in the log.</summary>
    public Task<ProcessResult> CheckAsync(CancellationToken cancellationToken) =>
        RunAsync(PeerBinaries.Postfix!, ["-c", ConfigDirectory, "check"], cancellationToken);

    /// <summary>Re-reads main.cf/master.cf after a test edited them (<c>postfix reload</c>).</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await RunPostfixAsync("reload", cancellationToken);
        MainCf = await File.ReadAllTextAsync(Path.Combine(ConfigDirectory, "main.cf"), cancellationToken);
        MasterCf = await File.ReadAllTextAsync(Path.Combine(ConfigDirectory, "master.cf"), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            _started = false;
            try
            {
                await RunPostfixAsync("stop", CancellationToken.None);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                // A master that will not stop is killed outright below, so the folder can go.
            }

            await KillMasterAsync();
        }

        if (!TestDirectories.Kept)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A delivery agent still exiting may hold a file; the temp folder is cleaned by the OS eventually.
            }
        }
    }

    private async Task ConfigureAsync(CancellationToken cancellationToken)
    {
        // The postfix, nobody and dovecot users must reach into the folder; CreateTempSubdirectory makes it 0700.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Directory, ModeRwxRxRx);
        }

        System.IO.Directory.CreateDirectory(ConfigDirectory);
        System.IO.Directory.CreateDirectory(MailDirectory);
        await ChangeOwnerAsync("65534:65534", MailDirectory, cancellationToken);
        await PostfixQueueTemplate.CopyToAsync(Directory, cancellationToken);

        Mailboxes = [.. _options.Mailboxes.Append("postmaster").Distinct(StringComparer.Ordinal)];
        var mailboxMap = new StringBuilder();
        foreach (var mailbox in Mailboxes)
        {
            // A trailing slash makes the virtual agent deliver into a Maildir.
            mailboxMap.Append(Address(mailbox)).Append(' ').Append(mailbox).Append("/\n");
        }

        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "vmailbox"), mailboxMap.ToString(), cancellationToken);

        var values = new Dictionary<string, string>
        {
            [PostfixTemplates.Inbound] = $"127.0.0.1:{InboundPort}",
            [PostfixTemplates.FilterPort] = (FilterPort ?? 0).ToString(CultureInfo.InvariantCulture),
            [PostfixTemplates.ReinjectPort] = ReinjectPort.ToString(CultureInfo.InvariantCulture),
            [PostfixTemplates.ProxyTimeout] = $"{(long)_options.ProxyTimeout.TotalSeconds}s",
            [PostfixTemplates.MessageSizeLimit] = _options.MessageSizeLimit.ToString(CultureInfo.InvariantCulture),
        };

        var main = new StringBuilder(PostfixTemplates.Render(TestMainCf, new Dictionary<string, string> { ["BASE"] = Directory }));
        PostfixTemplates.AppendBlock(main, "deploy/postfix/main.cf.fragment",
            PostfixTemplates.RenderSubset(PostfixTemplates.ReadMainFragment(), values));
        var master = new StringBuilder(TestMasterCf);
        PostfixTemplates.AppendBlock(master, "deploy/postfix/master.cf.fragment",
            PostfixTemplates.RenderSubset(PostfixTemplates.ReadMasterFragment(), values));

        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "main.cf"), main.ToString(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(ConfigDirectory, "master.cf"), master.ToString(), cancellationToken);

        if (_options.MainSettings.Count > 0)
        {
            // postconf -e edits each setting in place, so an override never leaves a duplicate line behind.
            (await RunAsync(PeerBinaries.Postconf!,
                ["-c", ConfigDirectory, "-e", .. _options.MainSettings.Select(kv => $"{kv.Key}={kv.Value}")],
                cancellationToken)).EnsureSuccess();
        }

        if (FilterPort is null)
        {
            // The committed fragment as deployed, with the proxy switched off by Postfix's own editor.
            (await RunAsync(PeerBinaries.Postconf!,
                ["-c", ConfigDirectory, "-P", $"127.0.0.1:{InboundPort}/inet/smtpd_proxy_filter="],
                cancellationToken)).EnsureSuccess();
        }

        MainCf = await File.ReadAllTextAsync(Path.Combine(ConfigDirectory, "main.cf"), cancellationToken);
        MasterCf = await File.ReadAllTextAsync(Path.Combine(ConfigDirectory, "master.cf"), cancellationToken);
    }

    private async Task RunPostfixAsync(string command, CancellationToken cancellationToken) =>
        (await RunAsync(PeerBinaries.Postfix!, ["-c", ConfigDirectory, command], cancellationToken)).EnsureSuccess();

    private static Task<ProcessResult> RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        ChildProcess.RunAsync(file, arguments, CommandTimeout, cancellationToken);

    private static async Task ChangeOwnerAsync(string owner, string path, CancellationToken cancellationToken) =>
        (await RunAsync("chown", [owner, path], cancellationToken)).EnsureSuccess();

    private async Task KillMasterAsync()
    {
        var pidFile = Path.Combine(QueueDirectory, "pid", "master.pid");
        if (!File.Exists(pidFile) || !int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
        {
            return;
        }

        try
        {
            using var master = System.Diagnostics.Process.GetProcessById(pid);
            if (master.ProcessName == "master")
            {
                master.Kill(entireProcessTree: true);
            }
        }
        catch (ArgumentException)
        {
            // Already gone: the usual case after a clean stop.
        }
        catch (InvalidOperationException)
        {
            // Exited while we looked.
        }
    }

    private Task<string> ReadLogTailAsync(CancellationToken cancellationToken) =>
        LogFiles.TailAsync(LogFile, 40, cancellationToken);

    private const UnixFileMode ModeRwxRxRx =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    // Test-only settings around the committed fragments: private paths, loopback only, no DNS,
    // example.test delivered into Maildirs, everything else bounced at once (tests never send mail away).
    private const string TestMainCf = """
        # Private Postfix test instance written by PostfixInstance (tests/EndToEnd.Tests).
        compatibility_level = 3.6
        queue_directory = {{BASE}}/queue
        data_directory = {{BASE}}/data
        mail_owner = postfix
        setgid_group = postdrop
        myhostname = mx.example.test
        mydomain = example.test
        myorigin = $mydomain
        mydestination =
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        mynetworks = 127.0.0.0/8
        smtp_dns_support_level = disabled
        smtpd_peername_lookup = no
        smtpd_client_port_logging = yes
        smtpd_client_restrictions =
        smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
        alias_maps =
        alias_database =
        biff = no
        default_transport = error:5.7.1 test instance delivers example.test only
        relay_transport = error:5.7.1 test instance delivers example.test only
        virtual_mailbox_domains = example.test
        virtual_mailbox_base = {{BASE}}/mail
        virtual_mailbox_maps = texthash:{{BASE}}/etc/vmailbox
        virtual_uid_maps = static:65534
        virtual_gid_maps = static:65534
        unknown_virtual_mailbox_reject_code = 550
        maillog_file = {{BASE}}/postfix.log
        maillog_file_prefixes = {{BASE}}
        """;

    // The stock services with chroot off (the temp folder is no chroot jail), plus postlog for maillog_file.
    // The inbound and reinjection smtpd services come from deploy/postfix/master.cf.fragment.
    private const string TestMasterCf = """
        # Private Postfix test instance written by PostfixInstance (tests/EndToEnd.Tests).
        # service  type  private unpriv chroot wakeup maxproc command
        pickup     unix  n       -      n      60     1       pickup
        cleanup    unix  n       -      n      -      0       cleanup
        qmgr       unix  n       -      n      300    1       qmgr
        rewrite    unix  -       -      n      -      -       trivial-rewrite
        bounce     unix  -       -      n      -      0       bounce
        defer      unix  -       -      n      -      0       bounce
        trace      unix  -       -      n      -      0       bounce
        verify     unix  -       -      n      -      1       verify
        flush      unix  n       -      n      1000?  0       flush
        proxymap   unix  -       -      n      -      -       proxymap
        proxywrite unix  -       -      n      -      1       proxymap
        smtp       unix  -       -      n      -      -       smtp
        relay      unix  -       -      n      -      -       smtp
        showq      unix  n       -      n      -      -       showq
        error      unix  -       -      n      -      -       error
        retry      unix  -       -      n      -      -       error
        discard    unix  -       -      n      -      -       discard
        local      unix  -       n      n      -      -       local
        virtual    unix  -       n      n      -      -       virtual
        lmtp       unix  -       -      n      -      -       lmtp
        anvil      unix  -       -      n      -      1       anvil
        scache     unix  -       -      n      -      1       scache
        postlog    unix-dgram n  -      n      -      1       postlogd
        """;
}
