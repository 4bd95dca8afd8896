using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>
/// struct mmsghdr (sys/socket.h): one message of a sendmmsg(2)/recvmmsg(2) vector, 64 bytes on 64-bit Linux
/// (56-byte msghdr, the unsigned msg_len the kernel fills in, 4 bytes of tail padding).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MMsgHdr
{
    public MsgHdr Header;

    /// <summary>Bytes sent or received for this message (set by the kernel).</summary>
    public uint Length;
}
