using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>The interface named <paramref name="name"/>.</summary>
    /// <exception cref="PlatformException">No such interface (ENODEV: "interface eth9: No such device").</exception>
    public LinkInfo GetLink(string name) =>
        TryGetLink(name) ?? throw Errno.Exception(Errno.ENODEV, "RTM_GETLINK", $"interface {name}");

    /// <summary>The interface named <paramref name="name"/>, or null when there is none.</summary>
    public LinkInfo? TryGetLink(string name)
    {
        var m = Ack(Nl.RTM_GETLINK);
        IfInfo(m, 0);
        m.String(Nl.IFLA_IFNAME, name);
        return QueryLink(m, $"interface {name}");
    }

    /// <summary>The interface with index <paramref name="index"/>, or null.</summary>
    public LinkInfo? TryGetLink(int index)
    {
        var m = Ack(Nl.RTM_GETLINK);
        IfInfo(m, index);
        return QueryLink(m, $"interface #{index}");
    }

    /// <summary>Every interface in the namespace.</summary>
    public IReadOnlyList<LinkInfo> ListLinks()
    {
        var m = Dump(Nl.RTM_GETLINK);
        IfInfo(m, 0);
        var result = new List<LinkInfo>();
        foreach (var reply in Request(m, "list interfaces"))
            if (reply.Type == Nl.RTM_NEWLINK && RtNetlinkParser.Link(reply.Payload) is { } link)
                result.Add(link);
        return result;
    }

    /// <summary>Sets the interface administratively up or down (IFF_UP).</summary>
    public void SetLinkUp(int index, bool up = true)
    {
        var m = Ack(Nl.RTM_NEWLINK);
        IfInfo(m, index, up ? Nl.IFF_UP : 0, Nl.IFF_UP);
        Request(m, $"set{DeviceText(index)} {(up ? "up" : "down")}");
    }

    /// <summary>Sets the interface MTU.</summary>
    public void SetMtu(int index, int mtu)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mtu);
        var m = Ack(Nl.RTM_NEWLINK);
        IfInfo(m, index);
        m.U32(Nl.IFLA_MTU, (uint)mtu);
        Request(m, $"set{DeviceText(index)} mtu {mtu}");
    }

    /// <summary>
    /// Sets the transmit queue length (IFLA_TXQLEN, as <c>ip link set DEV txqueuelen N</c>). For a TUN this is the
    /// queue of packets waiting for the userspace reader: the default 500 overflows under a TCP burst while the reader
    /// is busy, and every overflow is a TCP loss.
    /// </summary>
    public void SetTxQueueLength(int index, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var m = Ack(Nl.RTM_NEWLINK);
        IfInfo(m, index);
        m.U32(Nl.IFLA_TXQLEN, (uint)length);
        Request(m, $"set{DeviceText(index)} txqueuelen {length}");
    }

    /// <summary>Deletes an interface (a TUN, a VXLAN device, one end of a veth pair).</summary>
    public void DeleteLink(int index)
    {
        var what = $"delete link{DeviceText(index)}";
        var m = Ack(Nl.RTM_DELLINK);
        IfInfo(m, index);
        Request(m, what);
    }

    /// <summary>
    /// Creates a kernel VXLAN device as flanneld creates <c>flannel.1</c> (IFLA_INFO_KIND "vxlan" with
    /// VNI, local address, underlay device, port, learning) and returns it. Not brought up.
    /// </summary>
    /// <exception cref="PlatformException">EEXIST when the name is taken, EINVAL for inconsistent settings.</exception>
    public LinkInfo CreateVxlan(VxlanLinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var m = Ack(Nl.RTM_NEWLINK, Nl.F_CREATE | Nl.F_EXCL);
        IfInfo(m, 0);
        m.String(Nl.IFLA_IFNAME, options.Name);
        if (options.Mtu is int mtu)
            m.U32(Nl.IFLA_MTU, (uint)mtu);
        if (options.Mac is { } mac)
            m.Mac(Nl.IFLA_ADDRESS, mac);
        int info = m.BeginNested(Nl.IFLA_LINKINFO);
        m.String(Nl.IFLA_INFO_KIND, "vxlan");
        int data = m.BeginNested(Nl.IFLA_INFO_DATA);
        m.U32(Nl.IFLA_VXLAN_ID, options.Vni);
        if (options.UnderlayLinkIndex is int link)
            m.U32(Nl.IFLA_VXLAN_LINK, (uint)link);
        if (options.Local is { } local)
            m.Ipv4(Nl.IFLA_VXLAN_LOCAL, local);
        // As vishvananda/netlink does for flannel: TTL 0 (inherit ip_default_ttl), TOS 0, learning as given.
        m.U8(Nl.IFLA_VXLAN_TTL, 0);
        m.U8(Nl.IFLA_VXLAN_TOS, 0);
        m.U8(Nl.IFLA_VXLAN_LEARNING, options.Learning ? (byte)1 : (byte)0);
        if (options.Port is ushort port)
            m.Be16(Nl.IFLA_VXLAN_PORT, port);
        if (options.UdpChecksum is bool csum)
            m.U8(Nl.IFLA_VXLAN_UDP_CSUM, csum ? (byte)1 : (byte)0);
        m.EndNested(data);
        m.EndNested(info);
        Request(m, $"create vxlan {options.Name} id {options.Vni}");
        return GetLink(options.Name);
    }

    private LinkInfo? QueryLink(NetlinkMessageBuilder m, string what)
    {
        try
        {
            foreach (var reply in Request(m, what))
                if (reply.Type == Nl.RTM_NEWLINK)
                    return RtNetlinkParser.Link(reply.Payload);
            return null;
        }
        catch (PlatformException e) when (e.Errno == Errno.ENODEV)
        {
            return null;
        }
    }
}
