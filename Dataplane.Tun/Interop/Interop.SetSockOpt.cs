using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_NO_CHECK = 11;
    public const int SO_SNDBUFFORCE = 32;
    public const int SO_RCVBUFFORCE = 33;

    public const int IPPROTO_IP = 0;
    public const int IP_TOS = 1;
    public const int IP_TTL = 2;
    public const int IP_MTU_DISCOVER = 10;
    public const int IP_RECVERR = 11;
    public const int IP_PMTUDISC_DONT = 0;
    public const int IP_PMTUDISC_WANT = 1;
    public const int IP_PMTUDISC_DO = 2;

    public const int SOL_NETLINK = 270;
    public const int NETLINK_ADD_MEMBERSHIP = 1;
    public const int NETLINK_CAP_ACK = 10;
    public const int NETLINK_EXT_ACK = 11;

    [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOptNative(SafeHandle fd, int level, int name, void* value, uint length);

    /// <summary>setsockopt(2) with an int value.</summary>
    public static int SetSockOpt(SafeHandle fd, int level, int name, int value) =>
        SetSockOptNative(fd, level, name, &value, sizeof(int));
}
