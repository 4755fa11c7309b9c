namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Where the real peers are installed. Tests that need one call a <c>Require*</c> method, which skips the
/// test with the install command when the peer is missing (CI installs them with scripts/install-test-deps.sh).
/// </summary>
public static class PeerBinaries
{
    private const string InstallHint = "install with scripts/install-test-deps.sh (apt-get install postfix swaks dovecot-lmtpd dovecot-imapd clamav-daemon)";

    public static string? Postfix => Find("postfix");

    public static string? Postconf => Find("postconf");

    public static string? Postqueue => Find("postqueue");

    public static string? Swaks => Find("swaks");

    public static string? Dovecot => Find("dovecot");

    public static string? Clamd => Find("clamd");

    /// <summary>The path of an executable named <paramref name="name"/> on PATH or in the sbin/bin folders, or null.</summary>
    public static string? Find(string name) => InstalledPrograms.Find(name);

    /// <summary>Skips the test unless Postfix and its queue tools are installed and we may run them as root.</summary>
    public static void RequirePostfix()
    {
        RequireRoot("a private Postfix instance");
        Require(Postfix, "postfix");
        Require(Postconf, "postconf");
        Require(Postqueue, "postqueue");
    }

    /// <summary>Skips the test unless swaks is installed.</summary>
    public static string RequireSwaks() => Require(Swaks, "swaks");

    /// <summary>Skips the test unless Dovecot with its LMTP and IMAP services is installed and we may run it as root.</summary>
    public static void RequireDovecot()
    {
        RequireRoot("a private Dovecot instance");
        Require(Dovecot, "dovecot");
        foreach (var service in new[] { "lmtp", "imap", "imap-login" })
        {
            if (!InstalledPrograms.IsExecutable(Path.Combine(DovecotLibexec, service)))
            {
                Assert.Skip($"{Path.Combine(DovecotLibexec, service)} is missing: {InstallHint}.");
            }
        }
    }

    /// <summary>Skips the test unless clamd (Debian's clamav-daemon) is installed.</summary>
    public static void RequireClamd() => Require(Clamd, "clamd");

    /// <summary>Where Debian puts Dovecot's service binaries.</summary>
    public static string DovecotLibexec => "/usr/lib/dovecot";

    private static string Require(string? path, string name)
    {
        if (path is null)
        {
            Assert.Skip($"`{name}` is not installed: {InstallHint}.");
        }

        return path;
    }

    private static void RequireRoot(string what)
    {
        if (!InstalledPrograms.IsRoot)
        {
            Assert.Skip($"Running {what} needs root (it switches to the postfix/dovecot/nobody users); running as {Environment.UserName}.");
        }
    }
}
