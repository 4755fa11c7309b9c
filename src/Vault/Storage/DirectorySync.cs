using System.Runtime.InteropServices;

namespace Detach.Vault.Storage;

/// <summary>
/// fsync on a directory, so a rename into it survives a crash. .NET has no API for it (a directory
/// cannot be opened as a FileStream), hence open(2)/fsync(2) on Unix; elsewhere it is a no-op.
/// </summary>
public static partial class DirectorySync
{
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return;
        }
        var fd = LibC.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()}).");
        }
        try
        {
            if (LibC.fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = LibC.close(fd);
        }
    }
}
