using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    // _IOW('T', 202, int) etc. from include/uapi/linux/if_tun.h.
    public const uint TUNSETIFF = 0x400454CA;
    public const uint TUNSETPERSIST = 0x400454CB;
    public const uint TUNGETIFF = 0x800454D2;

    /// <summary>_IOW('T', 208, unsigned int): which offloaded (unfinished) packets the TUN may hand the reader.</summary>
    public const uint TUNSETOFFLOAD = 0x400454D0;

    // ioctl is variadic in C; on x86-64 and arm64 Linux a variadic call with integer/pointer arguments
    // uses the same registers as a fixed-argument call, so a fixed signature is correct there.
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlPtr(SafeHandle fd, nuint request, void* arg);

    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlInt(SafeHandle fd, nuint request, nint arg);

    /// <summary>ioctl(fd, request, &amp;ifreq).</summary>
    public static int Ioctl(SafeHandle fd, uint request, ref IfReq ifr)
    {
        fixed (IfReq* p = &ifr)
            return IoctlPtr(fd, request, p);
    }

    /// <summary>ioctl(fd, request, value) for requests that take an integer argument (TUNSETPERSIST).</summary>
    public static int Ioctl(SafeHandle fd, uint request, nint value) => IoctlInt(fd, request, value);
}
