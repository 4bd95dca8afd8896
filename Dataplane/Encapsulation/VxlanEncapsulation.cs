using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Encapsulation;

/// <summary>
/// VXLAN as the Linux kernel's flannel.1 puts it on the wire and accepts it (reference/flannel.md §2.6):
/// UDP payload = <c>08 00 00 00 | VNI&lt;&lt;8</c> + inner Ethernet (dst = peer VTEP MAC, src = our VTEP MAC,
/// type 0x0800/0x86DD) + inner IP packet. TTL is not touched (the kernel does not either).
/// </summary>
/// <remarks>
/// <para>Receive is as strict as <c>vxlan_rcv</c>: flags word exactly the I flag and reserved byte zero
/// (VXLAN_INVALID_HDR), VNI equal to ours (VNI_NOT_FOUND), inner source MAC not ours (LOCAL_MAC), inner destination
/// MAC ours (anything else is PACKET_OTHERHOST and never reaches IP).</para>
/// <para>The outer header comes from a UDP socket. To match the kernel device the socket must give: DF clear
/// (<c>IP_MTU_DISCOVER = IP_PMTUDISC_DONT</c>; the kernel VXLAN device sets df = 0 unless IFLA_VXLAN_DF is
/// configured), TTL 64 (<c>IP_TTL = 64</c>, the default <c>ip_default_ttl</c>; flannel leaves the device TTL 0 =
/// "use the route hop limit"), a computed UDP checksum (the default for AF_INET UDP sockets; <c>SO_NO_CHECK = 1</c>
/// would send 0, as pre-4.6 kernels did; flannel.1 today shows <c>udpcsum</c>), and the outer TOS from
/// <see cref="PacketBuffer.OuterTos"/> (per packet via an <c>IP_TOS</c> cmsg on sendmsg, or per socket with
/// <c>setsockopt(IP_TOS)</c>): 0 DSCP plus the inner ECN bits mapped by <see cref="Ecn.EncapsulateTos"/>.</para>
/// <para>Divergence: the kernel applies <c>IP_ECN_decapsulate</c> (outer CE marks an ECT inner packet CE). A plain
/// UDP socket does not show us the outer TOS without <c>IP_RECVTOS</c>, so we do not propagate CE on receive.</para>
/// </remarks>
public sealed class VxlanEncapsulation : IEncapsulation
{
    /// <summary>The Linux and flannel default VXLAN port (IANA assigned 4789; Linux kept 8472).</summary>
    public const ushort LinuxDefaultPort = 8472;

    /// <summary>VXLAN header (8) + inner Ethernet (14).</summary>
    public const int EncapsulationHeaderLength = VxlanHeader.Length + EthernetHeader.Length;

    /// <summary>Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50 (flannel's vxlan encapOverhead).</summary>
    public const int WireOverhead = 50;

    /// <summary>Creates the format for our VNI and VTEP MAC, with the largest inner IP packet (device MTU).</summary>
    public VxlanEncapsulation(uint vni, MacAddress localMac, int maxInnerLength = 65535 - WireOverhead)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vni, VxlanHeader.MaxVni);
        if (localMac.IsMulticast)
            throw new ArgumentException($"VTEP MAC {localMac} must be unicast", nameof(localMac));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInnerLength, Ipv4Header.MinimumLength);
        Vni = vni;
        LocalMac = localMac;
        MaxInnerLength = maxInnerLength;
    }

    /// <summary>Our VNI. Linux flannel nodes send with their own device VNI and never read the peer's.</summary>
    public uint Vni { get; }

    /// <summary>Our VTEP MAC (published in the lease as VtepMAC).</summary>
    public MacAddress LocalMac { get; }

    /// <summary>Largest inner IP packet sent or accepted (device MTU: external MTU − 50).</summary>
    public int MaxInnerLength { get; }

    /// <summary>
    /// Largest inner packet <see cref="Decapsulate"/> accepts (default: <see cref="MaxInnerLength"/>). Raised up to 64 KiB
    /// where the TUN takes GSO writes, so that an inner super-packet from a tunnel-GSO peer (a kernel VXLAN device on a
    /// virtual underlay hands over 5-MSS TCP segments whole) reaches the pump, which writes it as one GSO packet or
    /// drops it as TooBig.
    /// </summary>
    public int MaxReceiveLength { get => _maxReceive ?? MaxInnerLength; init => _maxReceive = value; }

    private readonly int? _maxReceive;

    /// <inheritdoc/>
    public EncapsulationKind Kind => EncapsulationKind.Vxlan;

    /// <inheritdoc/>
    public int HeaderLength => EncapsulationHeaderLength;

    /// <inheritdoc/>
    public int Overhead => WireOverhead;

    /// <inheritdoc/>
    public ushort DefaultPort => LinuxDefaultPort;

    /// <inheritdoc/>
    public DropReason Encapsulate(PacketBuffer packet, in NextHop nextHop)
    {
        var inner = packet.Data;
        if (inner.IsEmpty)
            return DropReason.Truncated;
        ushort etherType;
        byte innerTos;
        int innerLength;
        switch (inner[0] >> 4)
        {
            case 4:
                if (!Ipv4Header.TryCreate(inner, out var v4, out var r4))
                    return r4;
                etherType = EtherType.Ipv4;
                innerTos = v4.TypeOfService;
                innerLength = v4.TotalLength;
                break;
            case 6:
                if (!Ipv6Header.TryCreate(inner, out var v6, out var r6))
                    return r6;
                etherType = EtherType.Ipv6;
                innerTos = v6.TrafficClass;
                innerLength = Ipv6Header.Length + v6.PayloadLength;
                break;
            default:
                return DropReason.BadIpVersion;
        }
        if (innerLength > MaxInnerLength)
            return DropReason.TooBig;
        if (innerLength != packet.Length)
            packet.SetLength(innerLength);
        if (packet.Headroom < EncapsulationHeaderLength)
            return DropReason.Truncated; // a buffer without headroom is a caller bug; still never throw per packet

        var header = packet.Prepend(EncapsulationHeaderLength);
        VxlanHeader.Write(header, Vni);
        EthernetHeader.Write(header[VxlanHeader.Length..], nextHop.VtepMac, LocalMac, etherType);
        packet.Peer = nextHop.Endpoint;
        packet.OuterTos = Ecn.EncapsulateTos(innerTos);
        return DropReason.None;
    }

    /// <inheritdoc/>
    public DropReason Decapsulate(PacketBuffer packet)
    {
        var payload = packet.Data;
        if (payload.Length < EncapsulationHeaderLength)
            return DropReason.Truncated;
        if (!VxlanHeader.TryCreate(payload, out var vxlan, out var reason))
            return reason;
        if (vxlan.Vni != Vni)
            return DropReason.VniMismatch;
        var eth = new EthernetHeader(payload[VxlanHeader.Length..]);
        if (eth.Source == LocalMac)
            return DropReason.InnerSourceIsOurs;
        if (eth.Destination != LocalMac)
            return DropReason.InnerDestinationNotOurs;

        var inner = payload[EncapsulationHeaderLength..];
        int innerLength;
        switch (eth.EtherType)
        {
            case EtherType.Ipv4:
                if (!Ipv4Header.TryCreate(inner, out var v4, out reason))
                    return reason;
                innerLength = v4.TotalLength;
                break;
            case EtherType.Ipv6:
                if (!Ipv6Header.TryCreate(inner, out var v6, out reason))
                    return reason;
                innerLength = Ipv6Header.Length + v6.PayloadLength;
                break;
            default:
                return DropReason.UnsupportedEtherType;
        }
        if (innerLength > MaxReceiveLength)
            return DropReason.TooBig;
        packet.TrimStart(EncapsulationHeaderLength);
        if (innerLength != packet.Length)
            packet.SetLength(innerLength); // drop Ethernet padding, if a sender added any
        return DropReason.None;
    }

    /// <inheritdoc/>
    public DropReason PrepareSuperPacket(Span<byte> inner, out byte outerTos)
    {
        outerTos = 0;
        if (inner.IsEmpty)
            return DropReason.Truncated;
        switch (inner[0] >> 4)
        {
            case 4:
                if (!Ipv4Header.TryCreate(inner, out var v4, out var r4))
                    return r4;
                outerTos = Ecn.EncapsulateTos(v4.TypeOfService);
                return DropReason.None;
            case 6:
                if (!Ipv6Header.TryCreate(inner, out var v6, out var r6))
                    return r6;
                outerTos = Ecn.EncapsulateTos(v6.TrafficClass);
                return DropReason.None;
            default:
                return DropReason.BadIpVersion;
        }
    }

    /// <inheritdoc/>
    public void WriteSegmentHeader(Span<byte> destination, in NextHop nextHop, int ipVersion)
    {
        VxlanHeader.Write(destination, Vni);
        EthernetHeader.Write(destination[VxlanHeader.Length..], nextHop.VtepMac, LocalMac, ipVersion == 6 ? EtherType.Ipv6 : EtherType.Ipv4);
    }

    /// <summary>
    /// A UDP source port for an inner packet, in the shape of the kernel's <c>udp_flow_src_port</c>
    /// (include/net/udp.h): a hash of the inner flow, <c>hash ^= hash &lt;&lt; 16</c>, scaled into
    /// [<paramref name="min"/>, <paramref name="max"/>) (the kernel uses ip_local_port_range, 32768–60999).
    /// The kernel's flow hash is keyed by a per-boot random secret, so the exact value cannot match; receivers
    /// ignore the source port, and a socket bound to one port cannot vary it anyway. Used where several
    /// sockets or GSO batches want a stable per-flow spread.
    /// </summary>
    public static ushort FlowSourcePort(ReadOnlySpan<byte> inner, int min = 32768, int max = 60999)
    {
        uint hash = FlowHash(inner);
        hash ^= hash << 16;
        return (ushort)((((ulong)hash * (uint)(max - min)) >> 32) + (uint)min);
    }

    // Hash of (src, dst, protocol, ports) for IPv4 TCP/UDP, (src, dst, protocol) otherwise. A simple
    // multiplicative mix: stable, cheap, and good enough to spread flows.
    private static uint FlowHash(ReadOnlySpan<byte> inner)
    {
        if (inner.Length < Ipv4Header.MinimumLength || inner[0] >> 4 != 4)
            return 0x9E3779B9;
        ulong h = BinaryPrimitives.ReadUInt64BigEndian(inner[12..]) * 0x9E3779B97F4A7C15UL;
        byte protocol = inner[9];
        h ^= protocol;
        int ihl = (inner[0] & 0xF) * 4;
        if (protocol is IpProtocol.Tcp or IpProtocol.Udp && inner.Length >= ihl + 4 && ihl >= Ipv4Header.MinimumLength)
            h ^= (ulong)BinaryPrimitives.ReadUInt32BigEndian(inner[ihl..]) << 17;
        h *= 0xC2B2AE3D27D4EB4FUL;
        return (uint)(h >> 32) ^ (uint)h;
    }
}
