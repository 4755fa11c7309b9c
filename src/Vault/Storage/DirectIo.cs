using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Detach.Vault.Storage;

/// <summary>
/// Writes that bypass the page cache (Linux <c>O_DIRECT</c>): the device reads the bytes straight from our buffer.
/// A stored object is written once and read back rarely, so copying it into the page cache (allocating and dirtying
/// fresh pages, which the kernel reclaims later, evicting what Postfix and the index have there) buys nothing. In the
/// process's own CPU it is a wash to a small gain (BENCHMARKS.md, issue 17); the page cache work it saves is done by
/// the kernel's threads. The fsyncs stay: direct writes skip the cache, not the device's. Buffers, offsets and
/// lengths must be multiples of <see cref="Alignment"/>; .NET has no option for it, so the flag is set with fcntl(2)
/// after the file is opened.
/// Where the platform or the file system does not do direct I/O, the file simply stays buffered.
/// </summary>
internal static class DirectIo
{
    /// <summary>4 KiB: covers 512-byte and 4K-sector devices.</summary>
    public const int Alignment = 4096;

    private const int GetFlags = 3; // F_GETFL
    private const int SetFlags = 4; // F_SETFL

    /// <summary>Switches <paramref name="file"/> to direct I/O; false (and unchanged) where that is not possible.</summary>
    public static bool TryEnable(SafeFileHandle file) => TrySet(file, enabled: true);

    /// <summary>Switches <paramref name="file"/> back to buffered I/O (for a tail shorter than a block).</summary>
    public static bool TryDisable(SafeFileHandle file) => TrySet(file, enabled: false);

    private static bool TrySet(SafeFileHandle file, bool enabled)
    {
        ArgumentNullException.ThrowIfNull(file);
        int flag = OperatingSystem.IsLinux() ? RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000, // O_DIRECT, asm-generic
            Architecture.Arm64 or Architecture.Arm => 0x10000,
            _ => 0,
        } : 0;
        if (flag == 0)
        {
            return false;
        }

        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            int fd = (int)file.DangerousGetHandle();
            int flags = NativeMethods.fcntl(fd, GetFlags, 0);
            return flags >= 0 && NativeMethods.fcntl(fd, SetFlags, enabled ? flags | flag : flags & ~flag) == 0;
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>Rounds <paramref name="length"/> down to a multiple of <see cref="Alignment"/>.</summary>
    public static int AlignDown(int length) => length & ~(Alignment - 1);

    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054 // A plain P/Invoke keeps AllowUnsafeBlocks off.
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int fcntl(int fd, int command, int argument);
#pragma warning restore SYSLIB1054
    }
}

/// <summary>
/// Chunk buffers for <see cref="LocalContentWriter"/>: <see cref="DirectIo.Alignment"/>-aligned (pinned, so the
/// address never moves) and kept for reuse, because a fresh 256 KiB block costs page faults on every use.
/// </summary>
internal sealed class ChunkBuffer
{
    // Enough for the writers of a busy host; beyond it buffers are left to the GC.
    private const int Kept = 16;
    private static readonly ConcurrentQueue<ChunkBuffer> Free = new();

    private readonly byte[] _array;
    private readonly int _offset;

    private ChunkBuffer(int size)
    {
        _array = GC.AllocateUninitializedArray<byte>(size + DirectIo.Alignment, pinned: true);
        long address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        _offset = (int)((DirectIo.Alignment - (address % DirectIo.Alignment)) % DirectIo.Alignment);
        Memory = _array.AsMemory(_offset, size);
    }

    /// <summary>The aligned bytes.</summary>
    public Memory<byte> Memory { get; }

    public static ChunkBuffer Rent() => Free.TryDequeue(out var buffer) ? buffer : new ChunkBuffer(UnixFsFileBuilder.ChunkSize);

    public void Return()
    {
        if (Free.Count < Kept)
        {
            Free.Enqueue(this);
        }
    }
}
