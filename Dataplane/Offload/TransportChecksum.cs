using System.Buffers.Binary;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Offload;

/// <summary>What the TCP/UDP checksum of an inner packet says about it.</summary>
public enum TransportChecksumStatus : byte
{
    /// <summary>
    /// Not a packet we check: not TCP or UDP, a fragment, IPv6 with extension headers, a length field that disagrees
    /// with the bytes, or an L4 header that does not fit. Left to the kernel, which has its own counters for these.
    /// </summary>
    Unchecked,
    /// <summary>The checksum verifies (or an IPv4 UDP datagram carries none: field 0, RFC 768).</summary>
    Valid,
    /// <summary>
    /// The checksum fails and the field holds exactly the folded pseudo-header sum over the L4 length: a
    /// CHECKSUM_PARTIAL packet whose sender left the rest to a NIC that never ran (see <see cref="TransportChecksum"/>).
    /// </summary>
    Partial,
    /// <summary>The checksum fails and the field is not a partial sum: corrupt.</summary>
    Invalid,
}

/// <summary>
/// Inner TCP/UDP checksums of decapsulated packets: recognise a partial pseudo-header sum left by a kernel peer on a
/// virtual underlay, complete it, or describe the packet (and an inner super-packet longer than the MTU) to a TUN
/// opened with IFF_VNET_HDR so that the kernel completes or segments it.
/// </summary>
/// <remarks>
/// <para>Why partial sums arrive: a Linux sender hands TCP/UDP to the device as CHECKSUM_PARTIAL with the checksum
/// field preset to the pseudo-header sum, <c>th->check = ~tcp_v4_check(len, saddr, daddr, 0)</c>
/// (net/ipv4/tcp_ipv4.c __tcp_v4_send_check; udp4_hwcsum / udp_send_skb likewise; tcp_v6_send_check for IPv6).
/// tcp_v4_check is csum_tcpudp_magic, the complemented fold, so the field holds the plain (uncomplemented) fold of
/// the pseudo-header sum, with the length counting the whole L4 header and payload. The NIC (or
/// skb_checksum_help) finishes it as the complement of the fold of everything from the L4 header on, field
/// included. Over veth or a bridge nothing finishes it: the receiving kernel trusts CHECKSUM_PARTIAL, the
/// kernel's VXLAN device passes the skb on unfinished, and we read the field as it was preset.</para>
/// <para>The false-accept risk: a corrupt packet is taken for a partial one only if its wrong checksum field happens
/// to equal the 16-bit pseudo-header fold, about 1 in 65,536 for random damage (the same odds as the Internet
/// checksum missing random damage in the first place). A caller that accepts <see cref="TransportChecksumStatus.Partial"/>
/// accepts that risk; over a virtual underlay the bytes were never on a wire, and the outer UDP checksum is no
/// better evidence (the receiving kernel does not verify it for a CHECKSUM_PARTIAL skb either).</para>
/// <para>Nothing here allocates or throws on packet content.</para>
/// </remarks>
public static class TransportChecksum
{
    private const int TcpMinimumHeader = 20, UdpHeaderLength = 8;
    private const int TcpChecksumOffset = 16, UdpChecksumOffset = 6;
    private const byte TcpCwr = 0x80;

    /// <summary>Classifies the TCP or UDP checksum of the IPv4/IPv6 packet <paramref name="packet"/> (one pass over its L4 bytes).</summary>
    /// <remarks>The IPv4 header checksum is not looked at (see <see cref="Ipv4HeaderChecksumValid"/>): the kernel
    /// verifies it itself and no sender leaves it unfinished.</remarks>
    public static TransportChecksumStatus Classify(ReadOnlySpan<byte> packet) =>
        TryLocate(packet, out var l4) ? Classify(packet, l4) : TransportChecksumStatus.Unchecked;

    /// <summary>True when <paramref name="ipv4Header"/> (IHL × 4 bytes) sums to 0xFFFF, i.e. its checksum verifies.</summary>
    public static bool Ipv4HeaderChecksumValid(ReadOnlySpan<byte> ipv4Header) => Checksum.Compute(ipv4Header) == 0;

    /// <summary>
    /// Writes the final TCP or UDP checksum of <paramref name="packet"/> in place, computed from scratch over the
    /// pseudo-header and the L4 bytes (what skb_checksum_help would have finished). For a
    /// <see cref="TransportChecksumStatus.Partial"/> packet this turns it into the <see cref="TransportChecksumStatus.Valid"/> one
    /// its sender meant; for a valid one it changes nothing.
    /// </summary>
    /// <returns><see cref="DropReason.None"/>, or <see cref="DropReason.UnsupportedOffload"/> when the packet is not one
    /// <see cref="Classify(ReadOnlySpan{byte})"/> checks (it is left untouched).</returns>
    /// <remarks>A UDP result of 0 is sent as 0xFFFF (0 means "no checksum"), as the kernel does (CSUM_MANGLED_0).</remarks>
    public static DropReason Complete(Span<byte> packet)
    {
        if (!TryLocate(packet, out var l4))
            return DropReason.UnsupportedOffload;
        var field = packet.Slice(l4.Start + l4.ChecksumOffset, 2);
        field.Clear();
        ushort check = Checksum.Finish(l4.PseudoSum(packet) + Checksum.Sum(packet.Slice(l4.Start, l4.Length)));
        if (check == 0 && !l4.Tcp)
            check = 0xFFFF;
        BinaryPrimitives.WriteUInt16BigEndian(field, check);
        return DropReason.None;
    }

    /// <summary>
    /// Decides how a decapsulated inner packet is to be written to a TUN with IFF_VNET_HDR and builds its header,
    /// fixing the L4 checksum field in place where the header needs it.
    /// </summary>
    /// <param name="packet">The inner IP packet (its whole length; trailing bytes beyond the IP length are not allowed).</param>
    /// <param name="mtu">The TUN's MTU: a longer packet is an inner super-packet to be written as one GSO write.</param>
    /// <param name="header">What to write in front of the packet; default for a plain packet with a complete checksum.</param>
    /// <returns><see cref="DropReason.None"/> with <paramref name="header"/>; otherwise why the packet is to be dropped.</returns>
    /// <remarks>
    /// <para>Cost for a packet up to the MTU: the headers only, unless its checksum field equals the pseudo-header
    /// fold (every partial packet, about 1 in 65,536 finished ones), which then costs one pass to tell the two apart.
    /// A longer one always costs one pass (it must be valid or partial to become a GSO write).</para>
    /// <list type="bullet">
    /// <item>Up to <paramref name="mtu"/> bytes: valid or unchecked → default header (the kernel verifies the
    /// checksum itself); partial → NEEDS_CSUM with csum_start = IP header length and csum_offset 16 (TCP) or 6 (UDP),
    /// the field left as the sender preset it, so the kernel treats it as CHECKSUM_PARTIAL exactly as the sender's
    /// kernel did; invalid → default header too: a corrupt single packet goes to the
    /// kernel, which drops and counts it (TcpInCsumErrors / UdpInCsumErrors) where the user looks.</item>
    /// <item>Longer (an inner super-packet from a tunnel-GSO peer, e.g. a kernel VXLAN device over veth that never
    /// segmented it): TCP only, valid or partial, IPv4 header checksum valid; then GSO TCPV4/TCPV6 with NEEDS_CSUM,
    /// gso_size = <paramref name="mtu"/> − IP header − TCP header (options included), hdr_len = IP + TCP header,
    /// the GSO_ECN bit when CWR is set (the kernel's tcp_gro_complete marks a CWR super-packet SKB_GSO_TCP_ECN), and
    /// the checksum field rewritten to the folded pseudo-header sum over the L4 length (a no-op for a partial one).
    /// Anything else that long stays a drop: <see cref="DropReason.TooBig"/> (UDP, unchecked, no room for a segment)
    /// or <see cref="DropReason.BadChecksum"/> (an invalid IPv4 header or TCP checksum).</item>
    /// </list>
    /// </remarks>
    public static DropReason PrepareTunWrite(Span<byte> packet, int mtu, out VirtioNetHeader header)
    {
        header = default;
        bool located = TryLocate(packet, out var l4);
        if (packet.Length <= mtu)
        {
            // Only a field equal to the pseudo-header fold can be partial: for every other packet (all but about
            // 1 in 65,536 finished ones) the answer is known from the headers alone, without a pass over the payload.
            if (!located || ChecksumField(packet, l4) != Checksum.Fold(l4.PseudoSum(packet)))
                return DropReason.None;
            if (Classify(packet, l4) == TransportChecksumStatus.Partial)
                header = PartialHeader(l4);
            return DropReason.None;
        }
        if (!located || !l4.Tcp)
            return DropReason.TooBig;
        if (!l4.Ipv6 && !Ipv4HeaderChecksumValid(packet[..l4.Start]))
            return DropReason.BadChecksum;
        var status = Classify(packet, l4);
        if (status is not (TransportChecksumStatus.Valid or TransportChecksumStatus.Partial))
            return DropReason.BadChecksum;
        int headerLength = l4.Start + l4.HeaderLength;
        int segmentSize = mtu - headerLength;
        if (segmentSize < 1)
            return DropReason.TooBig;
        if (status == TransportChecksumStatus.Valid)
            BinaryPrimitives.WriteUInt16BigEndian(packet[(l4.Start + TcpChecksumOffset)..], Checksum.Fold(l4.PseudoSum(packet)));
        bool cwr = (packet[l4.Start + 13] & TcpCwr) != 0;
        header = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, l4.Ipv6 ? GsoType.TcpV6 : GsoType.TcpV4,
            (ushort)headerLength, (ushort)segmentSize, (ushort)l4.Start, TcpChecksumOffset, cwr);
        return DropReason.None;
    }

    /// <summary>The NEEDS_CSUM header (no GSO) for a single packet whose L4 checksum field holds the partial sum.</summary>
    internal static VirtioNetHeader PartialHeader(in L4Location l4) =>
        new(VirtioNetHeader.NeedsCsum, GsoType.None, (ushort)(l4.Start + l4.HeaderLength), 0, (ushort)l4.Start,
            (ushort)l4.ChecksumOffset);

    /// <summary>Classification once <see cref="TryLocate"/> succeeded.</summary>
    internal static TransportChecksumStatus Classify(ReadOnlySpan<byte> packet, in L4Location l4)
    {
        ushort field = ChecksumField(packet, l4);
        // RFC 768: an IPv4 UDP checksum of 0 means none was computed. IPv6 forbids that (RFC 8200 §8.1), and the
        // kernel drops such a datagram unless the socket opted in (udp6_csum_init), so it is simply not valid here.
        if (!l4.Tcp && !l4.Ipv6 && field == 0)
            return TransportChecksumStatus.Valid;
        ulong pseudo = l4.PseudoSum(packet);
        if (Checksum.Finish(Checksum.Sum(packet.Slice(l4.Start, l4.Length), pseudo)) == 0)
            return TransportChecksumStatus.Valid;
        return field == Checksum.Fold(pseudo) ? TransportChecksumStatus.Partial : TransportChecksumStatus.Invalid;
    }

    private static ushort ChecksumField(ReadOnlySpan<byte> packet, in L4Location l4) =>
        BinaryPrimitives.ReadUInt16BigEndian(packet[(l4.Start + l4.ChecksumOffset)..]);

    /// <summary>
    /// Finds the TCP or UDP header of an IPv4/IPv6 packet: the IP checks of <see cref="GsoSegmenter"/> (version, header
    /// length, a total length not beyond the bytes, no fragment), the IP length equal to the bytes given (a checksum
    /// over padding would be wrong), L4 directly after the fixed IPv6 header, and the fixed L4 header inside.
    /// </summary>
    internal static bool TryLocate(ReadOnlySpan<byte> packet, out L4Location l4)
    {
        l4 = default;
        if (GsoSegmenter.ParseIp(packet, out bool ipv6, out int ipLength, out int totalLength, out byte protocol) != DropReason.None
            || totalLength != packet.Length)
            return false;
        int l4Length = totalLength - ipLength;
        int headerLength;
        if (protocol == IpProtocol.Tcp)
        {
            if (l4Length < TcpMinimumHeader)
                return false;
            headerLength = (packet[ipLength + 12] >> 4) * 4;
            if (headerLength < TcpMinimumHeader || headerLength > l4Length)
                return false;
        }
        else if (protocol == IpProtocol.Udp)
        {
            // The UDP length must be the L4 length: the kernel trims to it (udp_rcv), and a checksum over other
            // bounds would say nothing.
            if (l4Length < UdpHeaderLength || BinaryPrimitives.ReadUInt16BigEndian(packet[(ipLength + 4)..]) != l4Length)
                return false;
            headerLength = UdpHeaderLength;
        }
        else
        {
            return false;
        }
        l4 = new L4Location(ipv6, protocol == IpProtocol.Tcp, ipLength, l4Length, headerLength);
        return true;
    }

    /// <summary>Where the L4 header of a located packet is and what it is.</summary>
    internal readonly struct L4Location(bool ipv6, bool tcp, int start, int length, int headerLength)
    {
        /// <summary>IPv6 (else IPv4).</summary>
        public bool Ipv6 { get; } = ipv6;
        /// <summary>TCP (else UDP).</summary>
        public bool Tcp { get; } = tcp;
        /// <summary>Offset of the L4 header = the IP header length.</summary>
        public int Start { get; } = start;
        /// <summary>L4 header + payload bytes (the pseudo-header length).</summary>
        public int Length { get; } = length;
        /// <summary>L4 header length (TCP options included; 8 for UDP).</summary>
        public int HeaderLength { get; } = headerLength;
        /// <summary>Offset of the checksum field from <see cref="Start"/>.</summary>
        public int ChecksumOffset => Tcp ? TcpChecksumOffset : UdpChecksumOffset;

        /// <summary>The unfolded pseudo-header sum for this packet (addresses as they lie in the IP header).</summary>
        public ulong PseudoSum(ReadOnlySpan<byte> packet) =>
            Checksum.PseudoHeaderSum(Ipv6 ? packet.Slice(8, 32) : packet.Slice(12, 8), Tcp ? IpProtocol.Tcp : IpProtocol.Udp, (uint)Length);
    }
}
