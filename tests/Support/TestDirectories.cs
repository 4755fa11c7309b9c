namespace Detach.Tests.Support;

/// <summary>The temporary folders test peers run in, and whether to keep them for a look after the run.</summary>
public static class TestDirectories
{
    /// <summary>Set to 1 to keep each peer's folder (config, queue, mailboxes, logs) in /tmp after the test.</summary>
    public const string KeepVariable = "DETACH_KEEP_TEST_DIRS";

    /// <summary>True when <see cref="KeepVariable"/> asks to keep the folders.</summary>
    public static bool Kept => Environment.GetEnvironmentVariable(KeepVariable) == "1";
}
