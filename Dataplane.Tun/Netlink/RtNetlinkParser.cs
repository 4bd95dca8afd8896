using System.Runtime.InteropServices;
using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>Decodes RTM_NEWLINK/NEWADDR/NEWROUTE/NEWNEIGH payloads (shared by queries and the monitor).</summary>
internal static class RtNetlinkParser
{
    public static LinkInfo? Link(ReadOnlySpan<byte> p)
    {
        if (p.Length < Nl.IfInfoLength)
            return null;
        int index = MemoryMarshal.Read<int>(p[4..]);
        uint flags = MemoryMarshal.Read<uint>(p[8..]);
        string name = "";
        int mtu = 0;
        string? kind = null;
        MacAddress? mac = null;
        VxlanInfo? vxlan = null;
        foreach (var a in new NetlinkAttributes(p[Nl.IfInfoLength..]))
        {
            switch (a.Type)
            {
                case Nl.IFLA_IFNAME: name = a.String; break;
                case Nl.IFLA_MTU: mtu = (int)a.U32; break;
                case Nl.IFLA_ADDRESS: mac = a.Mac; break;
                case Nl.IFLA_LINKINFO:
                    ReadOnlySpan<byte> data = default;
                    foreach (var info in new NetlinkAttributes(a.Value))
                    {
                        if (info.Type == Nl.IFLA_INFO_KIND)
                            kind = info.String;
                        else if (info.Type == Nl.IFLA_INFO_DATA)
                            data = info.Value;
                    }
                    if (kind == "vxlan")
                        vxlan = Vxlan(data);
                    break;
            }
        }
        return new LinkInfo(index, name, mtu, flags, kind, mac, vxlan);
    }

    private static VxlanInfo Vxlan(ReadOnlySpan<byte> data)
    {
        uint vni = 0;
        Ipv4Address? local = null;
        ushort port = 0;
        int link = 0;
        bool learning = false, csum = false;
        foreach (var a in new NetlinkAttributes(data))
        {
            switch (a.Type)
            {
                case Nl.IFLA_VXLAN_ID: vni = a.U32; break;
                case Nl.IFLA_VXLAN_LOCAL: local = a.Ipv4; break;
                case Nl.IFLA_VXLAN_PORT: port = a.Be16; break;
                case Nl.IFLA_VXLAN_LINK: link = (int)a.U32; break;
                case Nl.IFLA_VXLAN_LEARNING: learning = a.U8 != 0; break;
                case Nl.IFLA_VXLAN_UDP_CSUM: csum = a.U8 != 0; break;
            }
        }
        return new VxlanInfo(vni, local, port, link, learning, csum);
    }

    public static AddressInfo? Address(ReadOnlySpan<byte> p)
    {
        if (p.Length < Nl.IfAddrLength || p[0] != Interop.Libc.AF_INET)
            return null;
        int prefixLength = p[1];
        int index = (int)MemoryMarshal.Read<uint>(p[4..]);
        Ipv4Address? local = null, address = null;
        string? label = null;
        foreach (var a in new NetlinkAttributes(p[Nl.IfAddrLength..]))
        {
            switch (a.Type)
            {
                case Nl.IFA_LOCAL: local = a.Ipv4; break;
                case Nl.IFA_ADDRESS: address = a.Ipv4; break;
                case Nl.IFA_LABEL: label = a.String; break;
            }
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
        var own = local ?? address;
        return own is null ? null : new AddressInfo(index, own.Value, prefixLength, label);
    }

    public static RouteInfo? Route(ReadOnlySpan<byte> p)
    {
        if (p.Length < Nl.RtMsgLength || p[0] != Interop.Libc.AF_INET)
            return null;
        int dstLength = p[1];
        int table = p[4];
        byte protocol = p[5];
        var scope = (RouteScope)p[6];
        var type = (RouteType)p[7];
        uint flags = MemoryMarshal.Read<uint>(p[8..]);
        Ipv4Address destination = default;
        int? oif = null;
        Ipv4Address? gateway = null, prefsrc = null;
        uint? metric = null;
        foreach (var a in new NetlinkAttributes(p[Nl.RtMsgLength..]))
        {
            switch (a.Type)
            {
                case Nl.RTA_DST: destination = a.Ipv4; break;
                case Nl.RTA_OIF: oif = (int)a.U32; break;
                case Nl.RTA_GATEWAY: gateway = a.Ipv4; break;
                case Nl.RTA_PRIORITY: metric = a.U32; break;
                case Nl.RTA_PREFSRC: prefsrc = a.Ipv4; break;
                case Nl.RTA_TABLE: table = (int)a.U32; break;
            }
        }
        return new RouteInfo
        {
            Destination = new Ipv4Prefix(destination, dstLength),
            Type = type,
            LinkIndex = oif,
            Gateway = gateway,
            OnLink = (flags & Nl.RTNH_F_ONLINK) != 0,
            Scope = scope,
            Table = table,
            Protocol = protocol,
            Metric = metric,
            PreferredSource = prefsrc,
        };
    }

    public static NeighbourInfo? Neighbour(ReadOnlySpan<byte> p)
    {
        if (p.Length < Nl.NdMsgLength)
            return null;
        byte family = p[0];
        if (family is not (Interop.Libc.AF_INET or Interop.Libc.AF_BRIDGE))
            return null;
        int index = MemoryMarshal.Read<int>(p[4..]);
        ushort state = MemoryMarshal.Read<ushort>(p[8..]);
        byte flags = p[10];
        Ipv4Address? address = null;
        MacAddress? mac = null;
        foreach (var a in new NetlinkAttributes(p[Nl.NdMsgLength..]))
        {
            if (a.Type == Nl.NDA_DST && a.Value.Length == 4)
                address = a.Ipv4;
            else if (a.Type == Nl.NDA_LLADDR)
                mac = a.Mac;
        }
        return new NeighbourInfo(index, address, mac, state, flags, family == Interop.Libc.AF_BRIDGE);
    }
}
