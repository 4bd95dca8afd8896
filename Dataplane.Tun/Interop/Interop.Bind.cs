using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
    private static partial int BindNative(SafeHandle fd, void* address, uint length);

    /// <summary>bind(2) to an IPv4 address.</summary>
    public static int Bind(SafeHandle fd, in SockAddrIn address)
    {
        fixed (SockAddrIn* p = &address)
            return BindNative(fd, p, (uint)sizeof(SockAddrIn));
    }

    /// <summary>bind(2) of a netlink socket (port id and multicast groups).</summary>
    public static int Bind(SafeHandle fd, in SockAddrNl address)
    {
        fixed (SockAddrNl* p = &address)
            return BindNative(fd, p, (uint)sizeof(SockAddrNl));
    }
}
