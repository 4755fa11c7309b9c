using System.Globalization;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>How a <see cref="DovecotInstance"/> is set up.</summary>
public sealed record DovecotOptions
{
    /// <summary>
    /// The users that exist (a passwd-file userdb): LMTP accepts <c>user@any.domain</c> for these and answers
    /// 550 5.1.1 per recipient for anyone else.
    /// </summary>
    public IReadOnlyList<string> Mailboxes { get; init; } = ["alice", "bob", "carol"];

    /// <summary>Every user's IMAP password.</summary>
    public string Password { get; init; } = "imap-test-password";
}

/// <summary>
/// A private Dovecot 2.3 instance run as root from its own config, base_dir and state_dir in a temporary
/// folder (so it never meets a system Dovecot): LMTP and IMAP on 127.0.0.1, no TLS, plaintext LOGIN allowed,
/// Maildirs owned by uid/gid 65534, log in a file. It never touches /etc/dovecot.
/// </summary>
public sealed class DovecotInstance : IAsyncDisposable
{

    private readonly DovecotOptions _options;
    private ChildProcess? _master;

    private DovecotInstance(DovecotOptions options, string directory, int lmtpPort, int imapPort)
    {
        _options = options;
        Directory = directory;
        LmtpPort = lmtpPort;
        ImapPort = imapPort;
    }

    /// <summary>The instance folder: dovecot.conf, users, run/ (base_dir), state/, mail/, dovecot.log.</summary>
    public string Directory { get; }

    public string ConfigFile => Path.Combine(Directory, "dovecot.conf");

    public string MailDirectory => Path.Combine(Directory, "mail");

    public string LogFile => Path.Combine(Directory, "dovecot.log");

    public int LmtpPort { get; }

    public int ImapPort { get; }

    public IReadOnlyList<string> Mailboxes => _options.Mailboxes;

    public string Password => _options.Password;

    /// <summary>The configuration the instance runs with.</summary>
    public string Config { get; private set; } = string.Empty;

    /// <summary>Writes the configuration, starts <c>dovecot -F</c>, and waits until LMTP and IMAP accept connections.</summary>
    public static Task<DovecotInstance> StartAsync(DovecotOptions options, CancellationToken cancellationToken) =>
        FreePort.RetryWhenTakenAsync(() => StartOnFreePortsAsync(options, cancellationToken));

    private static async Task<DovecotInstance> StartOnFreePortsAsync(DovecotOptions options, CancellationToken cancellationToken)
    {
        PeerBinaries.RequireDovecot();
        var directory = System.IO.Directory.CreateTempSubdirectory("detach-dovecot-").FullName;
        var ports = FreePort.Next(2);
        var instance = new DovecotInstance(options, directory, ports[0], ports[1]);
        try
        {
            await instance.ConfigureAsync(cancellationToken);
            instance._master = ChildProcess.Start(PeerBinaries.Dovecot!, ["-F", "-c", instance.ConfigFile]);
            await FreePort.WaitUntilListeningAsync(instance.LmtpPort, TimeSpan.FromSeconds(20), cancellationToken, instance._master);
            await FreePort.WaitUntilListeningAsync(instance.ImapPort, TimeSpan.FromSeconds(20), cancellationToken, instance._master);
            return instance;
        }
        catch (Exception e) when (e is not OperationCanceledException and not Xunit.Sdk.SkipException)
        {
            var log = await instance.ReadLogAsync(CancellationToken.None);
            var output = instance._master is { } master ? master.StandardOutput + master.StandardError : string.Empty;
            await instance.DisposeAsync();
            throw new InvalidOperationException($"Dovecot instance in {directory} did not start.\n{output}\nLog:\n{log}", e);
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    public static Task<DovecotInstance> StartAsync(CancellationToken cancellationToken) =>
        StartAsync(new DovecotOptions(), cancellationToken);

    /// <summary>The Maildir of a user (it exists once the first message arrives).</summary>
    public string MaildirFor(string mailbox) => Path.Combine(MailDirectory, mailbox);

    /// <summary>Paths of the messages delivered to <paramref name="mailbox"/> so far, oldest first.</summary>
    public IReadOnlyList<string> MessagesIn(string mailbox) => Maildir.Messages(MaildirFor(mailbox));

    /// <summary>
    /// Waits until <paramref name="mailbox"/> holds at least <paramref name="count"/> messages and returns their
    /// paths, oldest first. On timeout, throws with the end of Dovecot's log.
    /// </summary>
    public Task<IReadOnlyList<string>> WaitForMailAsync(
        string mailbox, int count, TimeSpan timeout, CancellationToken cancellationToken) =>
        Maildir.WaitForMessagesAsync(
            MaildirFor(mailbox), count, timeout,
            async cancellationToken => $"Dovecot log (end):\n{await LogFiles.TailAsync(LogFile, 40, cancellationToken)}",
            cancellationToken);

    /// <summary>
    /// Logs in as <paramref name="mailbox"/> over IMAP with MailKit's client, the way a mail client reads its mail,
    /// and opens INBOX read-only. Dispose it to disconnect.
    /// </summary>
    public async Task<ImapClient> OpenInboxAsync(string mailbox, CancellationToken cancellationToken) =>
        await OpenInboxAsync(mailbox, Password, cancellationToken);

    /// <summary>As <see cref="OpenInboxAsync(string, CancellationToken)"/> with a given password (a wrong one throws MailKit's <see cref="AuthenticationException"/>).</summary>
    public async Task<ImapClient> OpenInboxAsync(string mailbox, string password, CancellationToken cancellationToken)
    {
        var imap = new ImapClient();
        try
        {
            await imap.ConnectAsync("127.0.0.1", ImapPort, SecureSocketOptions.None, cancellationToken);
            await imap.AuthenticateAsync(mailbox, password, cancellationToken);
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, cancellationToken);
            return imap;
        }
        catch
        {
            imap.Dispose();
            throw;
        }
    }

    /// <summary>Every message in the user's INBOX, fetched over IMAP byte for byte as stored (BODY.PEEK[]), oldest first.</summary>
    public async Task<IReadOnlyList<byte[]>> FetchAllAsync(string mailbox, CancellationToken cancellationToken)
    {
        using var imap = await OpenInboxAsync(mailbox, cancellationToken);
        var messages = new List<byte[]>();
        for (var index = 0; index < imap.Inbox.Count; index++)
        {
            // The empty section is the whole message, raw: MimeMessage.WriteTo would re-serialize it.
            await using var raw = await imap.Inbox.GetStreamAsync(index, string.Empty, cancellationToken);
            using var copy = new MemoryStream();
            await raw.CopyToAsync(copy, cancellationToken);
            messages.Add(copy.ToArray());
        }

        await imap.DisconnectAsync(quit: true, cancellationToken);
        return messages;
    }

    /// <summary>Dovecot's log so far.</summary>
    public Task<string> ReadLogAsync(CancellationToken cancellationToken) => LogFiles.ReadAsync(LogFile, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_master is { } master)
        {
            _master = null;
            if (!master.HasExited)
            {
                try
                {
                    await ChildProcess.RunAsync(
                        PeerBinaries.Dovecot!, ["-c", ConfigFile, "stop"], TimeSpan.FromSeconds(20), CancellationToken.None);
                    await master.WaitForExitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                    // Killed with its children when disposed, next.
                }
            }

            await master.DisposeAsync();
        }

        if (!TestDirectories.Kept)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A service still exiting may hold a file; the temp folder is cleaned by the OS eventually.
            }
        }
    }

    private async Task ConfigureAsync(CancellationToken cancellationToken)
    {
        // Dovecot's unprivileged services (auth as dovecot, mail as 65534) must reach into the folder.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Directory,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        System.IO.Directory.CreateDirectory(MailDirectory);
        (await ChildProcess.RunAsync("chown", ["65534:65534", MailDirectory], TimeSpan.FromSeconds(10), cancellationToken))
            .EnsureSuccess();

        var users = new StringBuilder();
        foreach (var mailbox in _options.Mailboxes)
        {
            // passwd-file: user:password:uid:gid:gecos:home:shell:extra
            users.Append(CultureInfo.InvariantCulture, $"{mailbox}:{{PLAIN}}{_options.Password}:65534:65534::{MaildirFor(mailbox)}::\n");
        }

        var usersFile = Path.Combine(Directory, "users");
        await File.WriteAllTextAsync(usersFile, users.ToString(), cancellationToken);

        Config = PostfixTemplates.Render(ConfigTemplate, new Dictionary<string, string>
        {
            ["BASE"] = Directory,
            ["INSTANCE"] = Path.GetFileName(Directory),
            ["USERS"] = usersFile,
            ["LMTP_PORT"] = LmtpPort.ToString(CultureInfo.InvariantCulture),
            ["IMAP_PORT"] = ImapPort.ToString(CultureInfo.InvariantCulture),
        });
        await File.WriteAllTextAsync(ConfigFile, Config, cancellationToken);
    }

    // Dovecot 2.3 syntax (Debian 12). auth_username_format=%Ln makes alice@example.test log in and
    // receive as "alice"; the passwd-file userdb is what makes unknown LMTP recipients fail with 550.
    private const string ConfigTemplate = """
        # Private Dovecot test instance written by DovecotInstance (tests/EndToEnd.Tests).
        instance_name = {{INSTANCE}}
        base_dir = {{BASE}}/run
        state_dir = {{BASE}}/state
        listen = 127.0.0.1
        hostname = imap.example.test
        protocols = imap lmtp
        ssl = no
        disable_plaintext_auth = no
        auth_mechanisms = plain login
        auth_username_format = %Ln
        log_path = {{BASE}}/dovecot.log
        mail_location = maildir:{{BASE}}/mail/%n
        first_valid_uid = 100
        passdb {
          driver = passwd-file
          args = scheme=PLAIN {{USERS}}
        }
        userdb {
          driver = passwd-file
          args = {{USERS}}
        }
        service lmtp {
          inet_listener lmtp {
            address = 127.0.0.1
            port = {{LMTP_PORT}}
          }
        }
        service imap-login {
          inet_listener imap {
            address = 127.0.0.1
            port = {{IMAP_PORT}}
          }
          inet_listener imaps {
            port = 0
          }
        }
        """;
}
