namespace Dataplane.Tun.Netlink;

/// <summary>
/// Message types, flags and attribute numbers from include/uapi/linux/{netlink,rtnetlink,if_link,
/// if_addr,neighbour}.h. Only the ones used here.
/// </summary>
internal static class Nl
{
    // nlmsghdr types and flags (netlink.h)
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;
    public const ushort F_REQUEST = 0x1;
    public const ushort F_MULTI = 0x2;
    public const ushort F_ACK = 0x4;
    public const ushort F_DUMP = 0x300;
    public const ushort F_REPLACE = 0x100;
    public const ushort F_EXCL = 0x200;
    public const ushort F_CREATE = 0x400;
    public const ushort F_CAPPED = 0x100;
    public const ushort F_ACK_TLVS = 0x200;
    public const ushort NLMSGERR_ATTR_MSG = 1;
    public const int HeaderLength = 16;

    // rtnetlink message types
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24;
    public const ushort RTM_DELROUTE = 25;
    public const ushort RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28;
    public const ushort RTM_DELNEIGH = 29;
    public const ushort RTM_GETNEIGH = 30;

    // multicast groups (legacy bit masks, RTMGRP_*)
    public const uint RTMGRP_LINK = 0x1;
    public const uint RTMGRP_IPV4_IFADDR = 0x10;
    public const uint RTMGRP_IPV4_ROUTE = 0x40;

    // ifinfomsg / IFLA_*
    public const int IfInfoLength = 16;
    public const uint IFF_UP = 0x1;
    public const ushort IFLA_ADDRESS = 1;
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_MTU = 4;
    public const ushort IFLA_TXQLEN = 13;
    public const ushort IFLA_LINK = 5;
    public const ushort IFLA_OPERSTATE = 16;
    public const ushort IFLA_LINKINFO = 18;
    public const ushort IFLA_INFO_KIND = 1;
    public const ushort IFLA_INFO_DATA = 2;
    public const ushort IFLA_VXLAN_ID = 1;
    public const ushort IFLA_VXLAN_LINK = 3;
    public const ushort IFLA_VXLAN_LOCAL = 4;
    public const ushort IFLA_VXLAN_TTL = 5;
    public const ushort IFLA_VXLAN_TOS = 6;
    public const ushort IFLA_VXLAN_LEARNING = 7;
    public const ushort IFLA_VXLAN_PORT = 15;
    public const ushort IFLA_VXLAN_UDP_CSUM = 18;

    // ifaddrmsg / IFA_*
    public const int IfAddrLength = 8;
    public const ushort IFA_ADDRESS = 1;
    public const ushort IFA_LOCAL = 2;
    public const ushort IFA_LABEL = 3;

    // rtmsg / RTA_*
    public const int RtMsgLength = 12;
    public const byte RT_TABLE_MAIN = 254;
    public const byte RTPROT_BOOT = 3;
    public const ushort RTA_DST = 1;
    public const ushort RTA_OIF = 4;
    public const ushort RTA_GATEWAY = 5;
    public const ushort RTA_PRIORITY = 6;
    public const ushort RTA_PREFSRC = 7;
    public const ushort RTA_TABLE = 15;
    public const uint RTNH_F_ONLINK = 4;

    // ndmsg / NDA_*
    public const int NdMsgLength = 12;
    public const ushort NDA_DST = 1;
    public const ushort NDA_LLADDR = 2;
    public const byte NTF_SELF = 0x02;
    public const ushort NUD_PERMANENT = 0x80;
    public const byte RTN_UNICAST = 1;
}
