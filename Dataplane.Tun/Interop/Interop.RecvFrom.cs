using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "recvfrom", SetLastError = true)]
    private static partial nint RecvFromNative(SafeHandle fd, byte* buffer, nuint length, int flags, void* address, uint* addressLength);

    /// <summary>
    /// recvfrom(2) of one datagram with the sender's IPv4 address. With <see cref="MSG_TRUNC"/> in
    /// <paramref name="flags"/> the return value is the datagram's real length even when it exceeded the
    /// buffer (udp_recvmsg), which is how truncation is detected. -1 with errno on failure. Never throws.
    /// </summary>
    public static nint RecvFrom(SafeHandle fd, Span<byte> buffer, int flags, out SockAddrIn source)
    {
        source = default;
        uint length = (uint)sizeof(SockAddrIn);
        fixed (byte* p = buffer)
        fixed (SockAddrIn* a = &source)
            return RecvFromNative(fd, p, (nuint)buffer.Length, flags, a, &length);
    }

    /// <summary>recv(2) without a source address (netlink).</summary>
    public static nint Recv(SafeHandle fd, Span<byte> buffer, int flags)
    {
        fixed (byte* p = buffer)
            return RecvFromNative(fd, p, (nuint)buffer.Length, flags, null, null);
    }
}
