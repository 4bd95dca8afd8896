using Dataplane.Buffers;
using Dataplane.Packets;

namespace Dataplane.Encapsulation;

/// <summary>
/// Answers ARP requests that kernel VXLAN peers send us inside VXLAN, so their neighbour entry for our VTEP address
/// turns REACHABLE again.
/// </summary>
/// <remarks>
/// <para>flanneld programs a permanent neighbour entry (our <c>.0</c> → our VTEP MAC) on every peer, so normally no ARP
/// crosses the wire. But an entry that is not permanent (an operator's, or a kernel that aged it) goes STALE, and the
/// kernel then sends <em>unicast</em> ARP probes to the cached MAC, i.e. VXLAN-encapsulated to us. We answer requests
/// for any address in our subnet (we are the VTEP for all of it) with our VTEP MAC. Broadcast ARP never reaches us: the
/// peer has no all-zeros FDB entry, so its kernel drops it before encapsulation.</para>
/// <para>The reply is built in place in the received buffer (no allocation) and sent back to the datagram's source
/// address. Stateless and thread-safe.</para>
/// </remarks>
public sealed class VxlanArpResponder
{
    private const int EthOffset = VxlanHeader.Length;
    private const int ArpOffset = VxlanHeader.Length + EthernetHeader.Length;

    private readonly VxlanEncapsulation _vxlan;
    private readonly Ipv4Prefix _ourSubnet;

    /// <summary>Answers for <paramref name="ourSubnet"/> with the VTEP MAC and VNI of <paramref name="vxlan"/>.</summary>
    public VxlanArpResponder(VxlanEncapsulation vxlan, Ipv4Prefix ourSubnet)
    {
        _vxlan = vxlan;
        _ourSubnet = ourSubnet;
    }

    /// <summary>ARP requests answered so far.</summary>
    public long Answered => Volatile.Read(ref _answered);

    private long _answered;

    /// <summary>
    /// If <paramref name="datagram"/> (a received VXLAN UDP payload) is an ARP request we should answer, rewrites it into
    /// the VXLAN payload of the reply and returns true; the caller sends it back to <see cref="PacketBuffer.Peer"/>.
    /// Otherwise leaves the buffer untouched and returns false (cheap: a length and an EtherType check for data frames).
    /// </summary>
    public bool TryAnswer(PacketBuffer datagram)
    {
        var p = datagram.Data;
        if (p.Length < ArpOffset + ArpPacket.Length)
            return false;
        var eth = new EthernetHeader(p[EthOffset..]);
        if (eth.EtherType != EtherType.Arp)
            return false;
        if (!VxlanHeader.TryCreate(p, out var vx, out _) || vx.Vni != _vxlan.Vni)
            return false;
        var mac = _vxlan.LocalMac;
        var dst = eth.Destination;
        var src = eth.Source;
        if ((dst != mac && dst != MacAddress.Broadcast) || src == mac || src.IsMulticast)
            return false;
        if (!ArpPacket.TryCreate(p[ArpOffset..], out var arp, out _) || arp.Operation != ArpPacket.OperationRequest)
            return false;
        var target = arp.TargetProtocolAddress;
        if (!_ourSubnet.Contains(target))
            return false;

        var senderMac = arp.SenderHardwareAddress;
        var senderIp = arp.SenderProtocolAddress;
        // Same VXLAN header (our VNI), Ethernet back to the asker, ARP reply: we are `target` at our MAC.
        EthernetHeader.Write(p[EthOffset..], src, mac, EtherType.Arp);
        ArpPacket.Write(p[ArpOffset..], ArpPacket.OperationReply, mac, target, senderMac, senderIp);
        datagram.SetLength(ArpOffset + ArpPacket.Length);
        datagram.OuterTos = 0;
        Interlocked.Increment(ref _answered);
        return true;
    }
}
