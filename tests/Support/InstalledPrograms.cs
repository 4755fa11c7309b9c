namespace Detach.Tests.Support;

/// <summary>
/// The programs installed on this machine that tests drive (swaks, smtp-sink, curl, nginx, miltertest…). A test that
/// needs one calls <see cref="Require"/>, which skips it with the install command when the program is missing
/// (./test.sh installs them all with scripts/install-test-deps.sh).
/// </summary>
public static class InstalledPrograms
{
    private static readonly string[] SearchPath =
    [
        .. (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries),
        "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin",
    ];

    /// <summary>True when the tests run as root (needed to start private Postfix, Dovecot and smtp-sink instances).</summary>
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>The path of an executable named <paramref name="name"/> on PATH or in the sbin/bin folders, or null.</summary>
    public static string? Find(string name) =>
        SearchPath.Select(dir => Path.Combine(dir, name)).FirstOrDefault(IsExecutable);

    /// <summary>The path of <paramref name="name"/>; skips the calling test when it is not installed.</summary>
    /// <param name="package">The Debian package that installs it.</param>
    public static string Require(string name, string package) =>
        Find(name) ?? throw Xunit.Sdk.SkipException.ForSkip(
            $"`{name}` is not installed (scripts/install-test-deps.sh, or apt-get install {package}): the test drives the real program.");

    /// <summary>True for an existing file with an execute bit.</summary>
    public static bool IsExecutable(string path) =>
        File.Exists(path) && !OperatingSystem.IsWindows()
        && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
