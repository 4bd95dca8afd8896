using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    public const int MSG_TRUNC = 0x20;
    public const int MSG_DONTWAIT = 0x40;

    [LibraryImport(Libraries.Libc, EntryPoint = "sendto", SetLastError = true)]
    private static partial nint SendToNative(SafeHandle fd, byte* buffer, nuint length, int flags, void* address, uint addressLength);

    /// <summary>sendto(2) of one datagram to an IPv4 address: bytes sent, or -1 with errno. Never throws.</summary>
    public static nint SendTo(SafeHandle fd, ReadOnlySpan<byte> datagram, int flags, in SockAddrIn destination)
    {
        fixed (byte* p = datagram)
        fixed (SockAddrIn* a = &destination)
            return SendToNative(fd, p, (nuint)datagram.Length, flags, a, (uint)sizeof(SockAddrIn));
    }

    /// <summary>send(2) on a socket whose destination is implied (netlink to the kernel).</summary>
    public static nint Send(SafeHandle fd, ReadOnlySpan<byte> message, int flags)
    {
        fixed (byte* p = message)
            return SendToNative(fd, p, (nuint)message.Length, flags, null, 0);
    }
}
