using System.Runtime.InteropServices;
using Dataplane.Packets;
using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>
    /// Adds or replaces a permanent ARP entry <paramref name="address"/> → <paramref name="mac"/> on a device
    /// (flanneld on flannel.1: the remote subnet's .0 → the remote VtepMAC; <c>ip neigh replace … nud permanent</c>).
    /// </summary>
    public void SetNeighbour(int index, Ipv4Address address, MacAddress mac)
    {
        var m = NeighbourMessage(Nl.RTM_NEWNEIGH, Nl.F_CREATE | Nl.F_REPLACE, Libc.AF_INET, index, 0);
        m.Ipv4(Nl.NDA_DST, address);
        m.Mac(Nl.NDA_LLADDR, mac);
        Request(m, $"set neighbour {address} lladdr {mac}{DeviceText(index)}");
    }

    /// <summary>Deletes the ARP entry for <paramref name="address"/> on a device.</summary>
    public void DeleteNeighbour(int index, Ipv4Address address)
    {
        var m = NeighbourMessage(Nl.RTM_DELNEIGH, 0, Libc.AF_INET, index, 0);
        m.Ipv4(Nl.NDA_DST, address);
        Request(m, $"delete neighbour {address}{DeviceText(index)}");
    }

    /// <summary>
    /// Adds or replaces a permanent bridge FDB entry on a VXLAN device: frames for <paramref name="mac"/>
    /// go to underlay address <paramref name="destination"/> (AF_BRIDGE, NTF_SELF, NDA_DST; the equivalent
    /// of <c>bridge fdb replace MAC dev flannel.1 dst IP self permanent</c>).
    /// </summary>
    public void SetFdb(int index, MacAddress mac, Ipv4Address destination)
    {
        var m = NeighbourMessage(Nl.RTM_NEWNEIGH, Nl.F_CREATE | Nl.F_REPLACE, Libc.AF_BRIDGE, index, Nl.NTF_SELF);
        m.Mac(Nl.NDA_LLADDR, mac);
        m.Ipv4(Nl.NDA_DST, destination);
        Request(m, $"set fdb {mac} dst {destination}{DeviceText(index)}");
    }

    /// <summary>Deletes the FDB entry for <paramref name="mac"/> (and <paramref name="destination"/>) on a device.</summary>
    public void DeleteFdb(int index, MacAddress mac, Ipv4Address destination)
    {
        var m = NeighbourMessage(Nl.RTM_DELNEIGH, 0, Libc.AF_BRIDGE, index, Nl.NTF_SELF);
        m.Mac(Nl.NDA_LLADDR, mac);
        m.Ipv4(Nl.NDA_DST, destination);
        Request(m, $"delete fdb {mac} dst {destination}{DeviceText(index)}");
    }

    /// <summary>IPv4 neighbour (ARP) entries, of one device or all.</summary>
    public IReadOnlyList<NeighbourInfo> ListNeighbours(int? index = null) => ListNeigh(Libc.AF_INET, index);

    /// <summary>Bridge FDB entries (including those of VXLAN devices), of one device or all.</summary>
    public IReadOnlyList<NeighbourInfo> ListFdb(int? index = null) => ListNeigh(Libc.AF_BRIDGE, index);

    private IReadOnlyList<NeighbourInfo> ListNeigh(byte family, int? index)
    {
        var m = Dump(Nl.RTM_GETNEIGH);
        var s = m.Append(Nl.NdMsgLength);
        s[0] = family;
        var result = new List<NeighbourInfo>();
        foreach (var reply in Request(m, family == Libc.AF_BRIDGE ? "list fdb" : "list neighbours"))
            if (reply.Type == Nl.RTM_NEWNEIGH && RtNetlinkParser.Neighbour(reply.Payload) is { } n && (index is null || n.LinkIndex == index))
                result.Add(n);
        return result;
    }

    private static NetlinkMessageBuilder NeighbourMessage(ushort type, ushort flags, byte family, int index, byte ntfFlags)
    {
        var m = Ack(type, flags);
        var s = m.Append(Nl.NdMsgLength);
        s[0] = family;
        MemoryMarshal.Write(s[4..], index);
        MemoryMarshal.Write(s[8..], Nl.NUD_PERMANENT);
        s[10] = ntfFlags;
        s[11] = Nl.RTN_UNICAST;
        return m;
    }
}
