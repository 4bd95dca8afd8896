using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

/// <summary>struct sockaddr_nl (linux/netlink.h): 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SockAddrNl
{
    public const ushort AF_NETLINK = 16;

    public ushort Family;
    private ushort _pad;
    /// <summary>Port id; 0 means "the kernel picks" on bind and "the kernel" as a destination.</summary>
    public uint PortId;
    /// <summary>Legacy multicast group bit mask (groups 1..32).</summary>
    public uint Groups;
}
