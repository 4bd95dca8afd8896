using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
    private static partial int ConnectNative(SafeHandle fd, void* address, uint length);

    /// <summary>connect(2) to an IPv4 address (for UDP: fixes the only destination and caches its route).</summary>
    public static int Connect(SafeHandle fd, in SockAddrIn address)
    {
        fixed (SockAddrIn* p = &address)
            return ConnectNative(fd, p, (uint)sizeof(SockAddrIn));
    }
}
