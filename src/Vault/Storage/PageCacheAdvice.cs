using Microsoft.Win32.SafeHandles;

namespace Detach.Vault.Storage;

/// <summary>
/// posix_fadvise(POSIX_FADV_DONTNEED) for a file just written and synced: its pages leave the page cache at once.
/// </summary>
/// <remarks>
/// A stored object is written once and read, if ever, when a recipient clicks, usually long after. Kept in the cache,
/// every object grows it by its size until memory is full, pushing out what is read often (the index, Postfix's
/// queue), and each new object lands in pages the kernel has to find anew. Dropped, the next object reuses the same
/// pages: on the project machine the kernel's part of writing 1 MiB fell from about 2 ms to under 1 (BENCHMARKS.md).
/// Only advice: where the call does not exist or fails, nothing changes.
/// </remarks>
internal static class PageCacheAdvice
{
    private const int DontNeed = 4; // POSIX_FADV_DONTNEED on Linux

    public static void DropCached(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            _ = LibC.posix_fadvise((int)file.DangerousGetHandle(), 0, 0, DontNeed);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }
}
