using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Libc = Dataplane.Tun.Interop.Libc;

namespace Control.Leases;

/// <summary>What reading one entry of the lease directory gave.</summary>
/// <param name="Bytes">The content, when it is a readable regular file within the size cap.</param>
/// <param name="Problem">Why the entry cannot be used (symlink, FIFO, device, too large, unreadable); null otherwise.</param>
internal readonly record struct LeaseFileRead(byte[]? Bytes, string? Problem)
{
    /// <summary>True when the entry does not exist.</summary>
    public bool Absent => Bytes is null && Problem is null;
}

/// <summary>
/// Reads and writes lease directory entries as untrusted input (issue 13 §2): the directory is shared, so anyone
/// able to write there can plant a symlink, a FIFO or a device. Reads therefore open with
/// <c>O_NOFOLLOW|O_NONBLOCK|O_NOCTTY</c> (a symlink fails with ELOOP instead of being followed; a FIFO neither
/// blocks the open nor the read), check with <c>statx</c> on the open descriptor that it is a regular file (so
/// the check and the read concern the same inode), and read at most <see cref="MaxSize"/> bytes. Nothing here
/// throws for a bad entry: the caller gets a <see cref="LeaseFileRead.Problem"/> and skips it.
/// </summary>
internal static class LeaseFile
{
    /// <summary>A lease value is ~150 bytes and metadata ~90: anything above 64 KiB is not one.</summary>
    public const int MaxSize = 64 * 1024;

    private const int ENOENT = 2;
    private const int ELOOP = 40;
    private const int O_NOCTTY = 0x100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_TYPE = 0x1;
    private const int S_IFMT = 0xF000;
    private const int S_IFREG = 0x8000;

    // The two flags whose values differ between x86-64 and the asm-generic architectures (arm64, riscv64).
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 0x20000 : 0x8000;
    private static readonly int O_DIRECTORY = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 0x10000 : 0x4000;

    /// <summary>Reads <paramref name="path"/> safely (see the class comment).</summary>
    public static LeaseFileRead Read(string path)
    {
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                ENOENT => default,
                ELOOP => new LeaseFileRead(null, "is a symbolic link (not followed)"),
                _ => new LeaseFileRead(null, $"cannot be opened: {Marshal.GetPInvokeErrorMessage(errno)}"),
            };
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var statx = new byte[256];
        if (StatxNative(fd, "", AT_EMPTY_PATH, STATX_TYPE, statx) != 0)
            return new LeaseFileRead(null, $"cannot be examined: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        // struct statx: stx_mode is the __u16 at offset 28 on every architecture (include/uapi/linux/stat.h).
        int type = BinaryPrimitives.ReadUInt16LittleEndian(statx.AsSpan(28)) & S_IFMT;
        if (type != S_IFREG)
            return new LeaseFileRead(null, $"is not a regular file ({TypeName(type)})");
        var buffer = new byte[MaxSize + 1];
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
                if (n <= 0)
                    break;
                total += n;
            }
        }
        catch (IOException e)
        {
            return new LeaseFileRead(null, $"cannot be read: {e.Message}");
        }
        if (total > MaxSize)
            return new LeaseFileRead(null, $"is larger than {MaxSize} bytes");
        return new LeaseFileRead(buffer[..total], null);
    }

    /// <summary>
    /// fsync(2) on a directory, so that a rename into it is durable before the next step depends on it (the
    /// metadata of a lease must be on disk before its value appears, see <see cref="DirectorySubnetRegistry"/>).
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        int fd = Libc.Open(directory, Libc.O_RDONLY | Libc.O_CLOEXEC | O_DIRECTORY);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} to sync it: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (FsyncNative(fd) != 0)
            throw new IOException($"fsync of directory {directory} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    private static string TypeName(int type) => type switch
    {
        0x1000 => "a FIFO",
        0x2000 => "a character device",
        0x4000 => "a directory",
        0x6000 => "a block device",
        0xA000 => "a symbolic link",
        0xC000 => "a socket",
        _ => $"type 0x{type:x}",
    };

    // DllImport rather than LibraryImport: this project does not allow unsafe code, and both signatures are
    // marshalled by the runtime without it (an int, a UTF-8 string, a blittable byte array).
#pragma warning disable SYSLIB1054, CA5392
    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int StatxNative(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int FsyncNative(int fd);
#pragma warning restore SYSLIB1054, CA5392
}
