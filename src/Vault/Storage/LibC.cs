using System.Runtime.InteropServices;

namespace Detach.Vault.Storage;

/// <summary>The few libc calls the store makes that .NET has no API for (Unix only; callers check the platform).</summary>
internal static class LibC
{
#pragma warning disable CA2101, SYSLIB1054 // UTF-8 paths; a plain P/Invoke keeps AllowUnsafeBlocks off.
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int close(int fd);

    [DllImport("libc")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int posix_fadvise(int fd, long offset, long length, int advice);
#pragma warning restore CA2101, SYSLIB1054
}
