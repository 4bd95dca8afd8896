using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static partial class Libc
{
    public const int AF_INET = 2;
    public const int AF_BRIDGE = 7;
    public const int AF_NETLINK = 16;
    public const int AF_PACKET = 17;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int NETLINK_ROUTE = 0;

    /// <summary>socket(2); returns the fd or -1 with errno.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);
}
