using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsgNative(SafeHandle fd, MsgHdr* message, int flags);

    /// <summary>
    /// sendmsg(2) of one datagram with an IP_TOS control message, so this one datagram's outer IPv4 TOS
    /// byte (DSCP and ECN) is <paramref name="tos"/> without changing the socket's default
    /// (ip_cmsg_send accepts an int or a byte payload for IP_TOS). -1 with errno on failure. Never throws.
    /// </summary>
    public static nint SendToWithTos(SafeHandle fd, ReadOnlySpan<byte> datagram, int flags, in SockAddrIn destination, byte tos)
    {
        CmsgInt cmsg = default;
        cmsg.Len = CmsgInt.Length;
        cmsg.Level = IPPROTO_IP;
        cmsg.Type = IP_TOS;
        cmsg.Value = tos;
        fixed (byte* p = datagram)
        fixed (SockAddrIn* a = &destination)
        {
            IOVector iov = new() { Base = p, Count = (nuint)datagram.Length };
            MsgHdr msg = new()
            {
                Name = a,
                NameLength = (uint)sizeof(SockAddrIn),
                Iov = &iov,
                IovLength = 1,
                Control = &cmsg,
                ControlLength = (nuint)sizeof(CmsgInt),
            };
            return SendMsgNative(fd, &msg, flags);
        }
    }
}
