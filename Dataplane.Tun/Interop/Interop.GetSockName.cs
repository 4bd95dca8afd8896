using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockNameNative(SafeHandle fd, void* address, uint* length);

    /// <summary>getsockname(2) of an IPv4 socket (the port the kernel picked for port 0).</summary>
    public static int GetSockName(SafeHandle fd, out SockAddrIn address)
    {
        address = default;
        uint length = (uint)sizeof(SockAddrIn);
        fixed (SockAddrIn* p = &address)
            return GetSockNameNative(fd, p, &length);
    }
}
