using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Offload;

/// <summary>
/// Userspace GRO for the TUN write path: coalesces decapsulated inner TCP segments of one flow into a super-packet
/// that a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD(TSO4|TSO6) takes in one write, with a virtio_net_hdr
/// (GSO TCPV4/TCPV6, NEEDS_CSUM). The reverse of <see cref="GsoSegmenter"/>: splitting a coalesced packet gives the
/// original segments back. The idea is wireguard-go's tun/offload_linux.go (tcpGRO, applyTCPCoalesceAccounting);
/// the merge rules are the kernel's (net/ipv4/tcp_offload.c tcp_gro_receive, net/ipv4/af_inet.c inet_gro_receive /
/// inet_gro_flush, net/ipv6/ip6_offload.c ipv6_gro_receive), cited where applied.
/// </summary>
/// <remarks>
/// <para><b>What merges.</b> A segment is appended to the open super-packet of its flow (same addresses, protocol
/// and ports) when: both are IPv4 without options (inet_gro_receive takes only IHL 5) or both IPv6 with TCP directly
/// after the fixed header; TOS, TTL and DF are equal (IPv6: the whole first word, i.e. traffic class and flow
/// label, and the hop limit); the IPv4 id is the head's plus the segment count, or, with DF set, fixed at the head's
/// (inet_gro_flush: "a fixed ID or an incrementing ID", decided on the second segment); the TCP header length,
/// options, ACK number, window and every flag but CWR, FIN and PSH are equal (tcp_gro_receive compares the whole
/// flag word, which holds the data offset and the window); the sequence number follows on exactly; the payload is
/// not larger than the head's (the head's payload length is gso_size: "(len - 1) >= mss" flushes); the new
/// segment has no CWR; the result stays ≤ 65,535 bytes (skb_gro_receive: GRO_LEGACY_MAX_SIZE) and fits the head's
/// buffer. A segment with PSH or FIN, or shorter than gso_size, is appended as the last one and closes the
/// super-packet (its PSH/FIN is carried on the head, which the segmenter keeps on the last segment only); a
/// segment with PSH or FIN cannot start one. SYN, RST and URG never merge, and neither does a segment with no
/// payload (a pure ACK). CWR may start a super-packet (the header then carries GSO_ECN, as tcp_gro_complete
/// sets SKB_GSO_TCP_ECN) but never joins one. UDP datagrams merge the same way when <see cref="CoalesceUdp"/> is on
/// (GSO type UDP_L4); see there.</para>
/// <para><b>Checksums.</b> Every segment that could merge has its IPv4 header checksum and its TCP checksum verified
/// first (tcp4_gro_receive: skb_gro_checksum_validate; inet_gro_receive: ip_fast_csum). One that fails is left
/// alone, untouched, for the kernel to drop and count (TcpInCsumErrors): once merged, NEEDS_CSUM would make the
/// kernel trust it. With <see cref="AcceptPartialChecksums"/>, a segment whose checksum field holds the unfinished
/// pseudo-header sum (<see cref="TransportChecksumStatus.Partial"/>) counts as good; see
/// <see cref="TransportChecksum"/> for why and the 1-in-65,536 risk.</para>
/// <para><b>Order.</b> A segment is only ever appended to the newest super-packet of its flow, never to an older
/// one and never in front: any segment of the flow that does not merge (a pure ACK, a gap, a bad checksum, a SYN)
/// closes that super-packet, exactly as a non-matching packet makes the kernel flush the held one. The
/// super-packet is written at its first segment's place, so the order within every flow is kept; packets of
/// different flows keep their relative order except that a super-packet's later segments now precede the other
/// flows' packets that came between them (wireguard-go does the same; the kernel gives no order across flows either).</para>
/// <para><b>Buffers and copies.</b> A super-packet lives in its first segment's buffer: each appended segment's
/// payload is copied once into that buffer's tail room (the only copy; headers are not copied, the head's are
/// fixed up in place at the end), so the head buffer needs capacity for 64 KiB past its offset (the pool's large
/// buffers), else the super-packet ends where its room does. The appended segments' buffers are then free: they
/// are moved behind the returned count and the caller may reuse them at once. Nothing allocates.</para>
/// <para><b>Use</b> (inbound, after decapsulation, for a TUN with IFF_VNET_HDR): set <see cref="MaxSegmentLength"/> to
/// the TUN's MTU; <c>n = Coalesce(packets)</c>; give each of the first n whose Offload is still default to
/// <see cref="TransportChecksum.PrepareTunWrite"/> (partial singles, inner super-packets over the MTU; headers only
/// for the rest), then write the first n. With <see cref="AcceptPartialChecksums"/> on, a kernel peer's unfinished
/// segments merge too.</para>
/// <para>Not thread-safe: one instance per pump thread (it keeps a flow table sized for its capacity).</para>
/// </remarks>
public sealed class GroCoalescer
{
    /// <summary>Largest IP packet a super-packet may become (IPv4 total length; the kernel's GRO limit for both families).</summary>
    public const int MaxSuperPacketLength = 65535;

    /// <summary>
    /// Most datagrams in one UDP super-packet: the kernel's own UDP GRO stops there (net/ipv4/udp_offload.c
    /// UDP_GRO_CNT_MAX), which also keeps it within what USO segments (UDP_MAX_SEGMENTS).
    /// </summary>
    public const int MaxUdpSegments = 64;

    private const int TcpChecksumOffset = 16, UdpChecksumOffset = 6;
    private const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Urg = 0x20, Cwr = 0x80;
    private const int KeyStride = 37; // IPv6 source + destination (32), ports (4), protocol (1); IPv4 uses 13.

    private readonly Run[] _runs;
    private readonly int[] _slotGeneration;
    private readonly int[] _slotRun;
    private readonly byte[] _slotKeys;
    private readonly byte[] _slotKeyLength;
    private readonly int _mask;
    private int _generation;

    /// <summary>Creates a coalescer for batches of up to <paramref name="capacity"/> packets.</summary>
    /// <param name="capacity">The most packets one <see cref="Coalesce"/> call is given (the pump's batch size).</param>
    /// <param name="acceptPartialChecksums">Treat a segment with an unfinished (partial) TCP checksum as good; see remarks.</param>
    public GroCoalescer(int capacity, bool acceptPartialChecksums = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 16);
        _runs = new Run[capacity];
        // Open addressing at load ≤ 1/2: at most one slot per packet per call, so probing always ends.
        int slots = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity * 2);
        _mask = slots - 1;
        _slotGeneration = new int[slots];
        _slotRun = new int[slots];
        _slotKeys = new byte[slots * KeyStride];
        _slotKeyLength = new byte[slots];
        AcceptPartialChecksums = acceptPartialChecksums;
    }

    /// <summary>The most packets one <see cref="Coalesce"/> call takes.</summary>
    public int Capacity => _runs.Length;

    /// <summary>
    /// When true, a segment whose TCP (or UDP) checksum is <see cref="TransportChecksumStatus.Partial"/> may merge, and
    /// one that could have merged but is left single gets a NEEDS_CSUM <see cref="PacketBuffer.Offload"/> (no GSO) so
    /// the kernel takes it as CHECKSUM_PARTIAL. Packets that could never merge (SYN, pure ACKs, ...) are not
    /// classified here: describe those with <see cref="TransportChecksum.PrepareTunWrite"/>.
    /// </summary>
    public bool AcceptPartialChecksums { get; }

    /// <summary>
    /// Longest packet that may take part (set it to the TUN's MTU): a longer one is an inner super-packet that
    /// <see cref="TransportChecksum.PrepareTunWrite"/> describes, and its payload must not become a gso_size.
    /// </summary>
    public int MaxSegmentLength { get; set; } = MaxSuperPacketLength;

    /// <summary>
    /// Also coalesce UDP datagrams (USO: GSO type UDP_L4, csum_offset 6). Only when the TUN accepted TUN_F_USO4 and
    /// TUN_F_USO6 (Linux 6.2+): the kernel then delivers the datagrams one by one to every socket that did not ask
    /// for UDP_GRO (udp_unexpected_gso), so boundaries are kept. Off by default.
    /// </summary>
    /// <remarks>
    /// The rules are the kernel's udp_gro_receive_segment: same addresses and ports, the IP rules as for TCP
    /// (inet_gro_flush / ipv6_gro_receive), a non-zero checksum that verifies ("requires non zero csum, for symmetry
    /// with GSO"), the UDP length equal to the L4 length, no datagram larger than the first, a shorter one ends the
    /// super-packet, and at most <see cref="MaxUdpSegments"/> datagrams.
    /// </remarks>
    public bool CoalesceUdp { get; init; }

    /// <summary>Super-packets built so far (each of two or more segments). Written by the owning thread only.</summary>
    public long SuperPackets { get; private set; }

    /// <summary>Segments appended to a super-packet so far (not counting the heads): the TUN writes saved.</summary>
    public long SegmentsMerged { get; private set; }

    /// <summary>
    /// Coalesces <paramref name="packets"/> in place and returns how many are to be written: they are moved, in order,
    /// to the front; a super-packet's <see cref="PacketBuffer.Offload"/> is set (GSO, NEEDS_CSUM) and its headers fixed
    /// up; every other packet to write is untouched (Offload as it came, normally default; see
    /// <see cref="AcceptPartialChecksums"/> for the one exception).
    /// </summary>
    /// <param name="packets">Decapsulated inner IP packets. Those with a <see cref="PacketBuffer.Verdict"/> are not
    /// written and not looked at; those with a non-default Offload are written as they are and never merged.</param>
    /// <returns>The count to write. Behind it lie, in no particular order, the buffers whose payload was appended to a
    /// super-packet (Verdict still None, free for reuse) and those that came with a Verdict (still to be counted).</returns>
    /// <exception cref="ArgumentOutOfRangeException">More packets than <see cref="Capacity"/> (a caller bug).</exception>
    public int Coalesce(Span<PacketBuffer> packets)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(packets.Length, _runs.Length, nameof(packets));
        NextGeneration();
        int written = 0;
        for (int i = 0; i < packets.Length; i++)
        {
            var packet = packets[i];
            if (packet.Verdict != DropReason.None)
                continue;
            var data = packet.Data;
            var kind = Inspect(packet, data, out var segment);
            if (kind != Candidacy.NoFlow)
            {
                int slot = FindSlot(data, segment);
                int open = _slotRun[slot];
                if (kind >= Candidacy.CanAppend && open >= 0)
                {
                    var result = TryAppend(packets[open], ref _runs[open], data, segment);
                    if (result != AppendResult.NotAppended)
                    {
                        if (result == AppendResult.AppendedAndClosed)
                            _slotRun[slot] = -1;
                        continue; // merged: this buffer stays behind the output, free
                    }
                }
                // Not merged: this packet is the flow's newest, so nothing older may be extended past it.
                _slotRun[slot] = kind == Candidacy.CanHead ? written : -1;
            }
            _runs[written] = kind >= Candidacy.CanAppend ? segment : default;
            (packets[written], packets[i]) = (packets[i], packets[written]);
            written++;
        }

        for (int k = 0; k < written; k++)
        {
            ref var run = ref _runs[k];
            if (run.Segments >= 2)
            {
                Finish(packets[k], run);
                SuperPackets++;
                SegmentsMerged += run.Segments - 1;
            }
            else if (run.Partial)
                packets[k].Offload = TransportChecksum.PartialHeader(run.Location);
        }
        return written;
    }

    private enum Candidacy : byte
    {
        /// <summary>Not a TCP (or, with <see cref="CoalesceUdp"/>, UDP) packet we can place in a flow: written as it is, closes nothing.</summary>
        NoFlow,
        /// <summary>TCP of a known flow that must not merge: written as it is, closes its flow's super-packet.</summary>
        FlowOnly,
        /// <summary>May be appended as the last segment (PSH or FIN), cannot start a super-packet.</summary>
        CanAppend,
        /// <summary>May be appended or start a super-packet.</summary>
        CanHead,
    }

    private enum AppendResult : byte { NotAppended, Appended, AppendedAndClosed }

    /// <summary>
    /// A super-packet being built (or, with <see cref="Segments"/> ≤ 1, a candidate segment), indexed by its output
    /// position. Its bytes live in the buffer at that position.
    /// </summary>
    private struct Run
    {
        public TransportChecksum.L4Location Location;
        public int HeaderLength;   // IP + L4 header
        public int GsoSize;        // the head's payload length
        public int Segments;       // 0 for a packet that is not a candidate
        public uint NextSeq;       // sequence number the next segment must carry
        public ushort FirstId;     // IPv4 id of the head
        public IdMode Ids;
        public bool Partial;       // some segment's checksum was a partial sum
    }

    private enum IdMode : byte { Undecided, Incrementing, Fixed }

    private Candidacy Inspect(PacketBuffer packet, ReadOnlySpan<byte> data, out Run segment)
    {
        segment = default;
        if (!TransportChecksum.TryLocate(data, out var l4) || (!l4.Tcp && !CoalesceUdp))
            return Candidacy.NoFlow;
        segment.Location = l4;
        int start = l4.Start;
        int payload = l4.Length - l4.HeaderLength;
        // TCP: SYN, RST and URG never merge (tcp_gro_receive flushes on them). UDP: a zero (absent) checksum never does.
        bool refused = l4.Tcp
            ? (data[start + 13] & (Syn | Rst | Urg)) != 0
            : data[start + UdpChecksumOffset] == 0 && data[start + UdpChecksumOffset + 1] == 0;
        var offload = packet.Offload;
        if (offload.GsoType != GsoType.None || offload.Flags != 0 || offload.Ecn
            || data.Length > MaxSegmentLength
            || payload < 1
            || refused
            || (!l4.Ipv6 && (data[0] != 0x45 || !TransportChecksum.Ipv4HeaderChecksumValid(data[..20]))))
            return Candidacy.FlowOnly;

        var status = TransportChecksum.Classify(data, l4);
        bool partial = status == TransportChecksumStatus.Partial && AcceptPartialChecksums;
        if (status != TransportChecksumStatus.Valid && !partial)
            return Candidacy.FlowOnly;

        segment.HeaderLength = start + l4.HeaderLength;
        segment.GsoSize = payload;
        segment.Segments = 1;
        segment.FirstId = l4.Ipv6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        segment.Partial = partial;
        if (!l4.Tcp)
            return Candidacy.CanHead;
        segment.NextSeq = unchecked(BinaryPrimitives.ReadUInt32BigEndian(data[(start + 4)..]) + (uint)payload);
        return (data[start + 13] & (Psh | Fin)) != 0 ? Candidacy.CanAppend : Candidacy.CanHead;
    }

    private AppendResult TryAppend(PacketBuffer head, ref Run run, ReadOnlySpan<byte> data, in Run segment)
    {
        var h = head.Data;
        var l4 = segment.Location;
        int tcp = l4.Start;
        // Same key means same family and protocol and, for IPv4, both are IHL 5; the TCP header length is compared here.
        if (segment.HeaderLength != run.HeaderLength)
            return AppendResult.NotAppended;

        var ids = run.Ids;
        if (l4.Ipv6)
        {
            // ipv6_gro_receive: version, traffic class and flow label (the first word) and the hop limit.
            if (BinaryPrimitives.ReadUInt32BigEndian(h) != BinaryPrimitives.ReadUInt32BigEndian(data) || h[7] != data[7])
                return AppendResult.NotAppended;
        }
        else
        {
            // inet_gro_flush: "All fields must match except length and checksum": TOS, TTL, DF; then the id rule.
            if (h[1] != data[1] || h[8] != data[8] || ((h[6] ^ data[6]) & 0x40) != 0)
                return AppendResult.NotAppended;
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
            bool df = (data[6] & 0x40) != 0;
            if (ids == IdMode.Undecided)
            {
                if (id == (ushort)(run.FirstId + 1))
                    ids = IdMode.Incrementing;
                else if (df && id == run.FirstId)
                    ids = IdMode.Fixed;
                else
                    return AppendResult.NotAppended;
            }
            else if (id != (ids == IdMode.Fixed ? run.FirstId : (ushort)(run.FirstId + run.Segments)))
            {
                return AppendResult.NotAppended;
            }
        }

        int payload = segment.GsoSize;
        if (payload > run.GsoSize
            || head.Length + payload > MaxSuperPacketLength
            || head.Writable.Length - head.Length < payload)
            return AppendResult.NotAppended;

        if (!l4.Tcp)
        {
            // udp_gro_receive_segment: a larger datagram completes the super-packet without joining; a shorter one
            // joins and completes it, as does reaching the count limit.
            if (run.Segments >= MaxUdpSegments)
                return AppendResult.NotAppended;
            Append(head, ref run, data, segment, ids);
            return payload < run.GsoSize || run.Segments == MaxUdpSegments ? AppendResult.AppendedAndClosed : AppendResult.Appended;
        }

        // tcp_gro_receive: the new segment's CWR flushes; the flag word (data offset, flags, window) must match but
        // for CWR, FIN and PSH; the ACK number and every option byte must match; the sequence number follows on.
        byte flags = data[tcp + 13];
        if ((flags & Cwr) != 0
            || h[tcp + 12] != data[tcp + 12]
            || ((h[tcp + 13] ^ flags) & ~(Cwr | Fin | Psh)) != 0
            || h[tcp + 14] != data[tcp + 14] || h[tcp + 15] != data[tcp + 15]
            || !h.Slice(tcp + 8, 4).SequenceEqual(data.Slice(tcp + 8, 4))
            || !h[(tcp + 20)..run.HeaderLength].SequenceEqual(data[(tcp + 20)..run.HeaderLength])
            || BinaryPrimitives.ReadUInt32BigEndian(data[(tcp + 4)..]) != run.NextSeq)
            return AppendResult.NotAppended;

        Append(head, ref run, data, segment, ids);
        run.NextSeq = unchecked(run.NextSeq + (uint)payload);
        bool last = payload < run.GsoSize;
        if ((flags & (Fin | Psh)) != 0)
        {
            // tcp_gro_receive: "tcp_flag_word(th2) |= flags & (TCP_FLAG_FIN | TCP_FLAG_PSH)", then the flush.
            head.Data[tcp + 13] |= (byte)(flags & (Fin | Psh));
            last = true;
        }
        return last ? AppendResult.AppendedAndClosed : AppendResult.Appended;
    }

    /// <summary>The one copy: the segment's payload into the head's tail room (checked to fit by the caller).</summary>
    private static void Append(PacketBuffer head, ref Run run, ReadOnlySpan<byte> data, in Run segment, IdMode ids)
    {
        data.Slice(run.HeaderLength, segment.GsoSize).CopyTo(head.Writable[head.Length..]);
        head.SetLength(head.Length + segment.GsoSize);
        run.Segments++;
        run.Ids = ids;
        run.Partial |= segment.Partial;
    }

    /// <summary>
    /// Fixes up a super-packet of two or more segments: IP length (and IPv4 header checksum; the id stays the
    /// head's, as inet_gro_complete leaves it), the UDP length, the TCP/UDP checksum field preset to the folded
    /// pseudo-header sum over the new L4 length (what NEEDS_CSUM expects; the kernel finishes it or, delivering locally, trusts it), and the
    /// virtio_net_hdr.
    /// </summary>
    private static void Finish(PacketBuffer head, in Run run)
    {
        var h = head.Data;
        var l4 = run.Location;
        int ipLength = l4.Start;
        int l4Length = h.Length - ipLength;
        ReadOnlySpan<byte> addresses;
        if (l4.Ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(h[4..], (ushort)l4Length);
            addresses = h.Slice(8, 32);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(h[2..], (ushort)h.Length);
            h[10] = 0;
            h[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(h[10..], Checksum.Compute(h[..ipLength]));
            addresses = h.Slice(12, 8);
        }
        if (!l4.Tcp)
            BinaryPrimitives.WriteUInt16BigEndian(h[(ipLength + 4)..], (ushort)l4Length);
        ushort pseudo = Checksum.Fold(Checksum.PseudoHeaderSum(addresses, l4.Tcp ? IpProtocol.Tcp : IpProtocol.Udp, (uint)l4Length));
        int checkOffset = l4.Tcp ? TcpChecksumOffset : UdpChecksumOffset;
        BinaryPrimitives.WriteUInt16BigEndian(h[(ipLength + checkOffset)..], pseudo);
        bool cwr = l4.Tcp && (h[ipLength + 13] & Cwr) != 0;
        var type = !l4.Tcp ? GsoType.UdpL4 : l4.Ipv6 ? GsoType.TcpV6 : GsoType.TcpV4;
        head.Offload = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, type,
            (ushort)run.HeaderLength, (ushort)run.GsoSize, (ushort)ipLength, (ushort)checkOffset, cwr);
    }

    /// <summary>The flow-table slot of the packet's flow (addresses + ports), claimed empty (no open super-packet) if new.</summary>
    private int FindSlot(ReadOnlySpan<byte> data, in Run segment)
    {
        var l4 = segment.Location;
        var addresses = l4.Ipv6 ? data.Slice(8, 32) : data.Slice(12, 8);
        var ports = data.Slice(l4.Start, 4);
        byte protocol = l4.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        var hash = new HashCode();
        hash.AddBytes(addresses);
        hash.Add(MemoryMarshal.Read<uint>(ports));
        hash.Add(protocol);
        int keyLength = addresses.Length + 5;
        int slot = hash.ToHashCode() & _mask;
        while (true)
        {
            var key = _slotKeys.AsSpan(slot * KeyStride, KeyStride);
            if (_slotGeneration[slot] != _generation)
            {
                _slotGeneration[slot] = _generation;
                _slotKeyLength[slot] = (byte)keyLength;
                _slotRun[slot] = -1;
                addresses.CopyTo(key);
                ports.CopyTo(key[addresses.Length..]);
                key[addresses.Length + 4] = protocol;
                return slot;
            }
            if (_slotKeyLength[slot] == keyLength
                && key[..addresses.Length].SequenceEqual(addresses)
                && key.Slice(addresses.Length, 4).SequenceEqual(ports)
                && key[addresses.Length + 4] == protocol)
                return slot;
            slot = (slot + 1) & _mask;
        }
    }

    /// <summary>Empties the flow table in O(1): a slot counts only if stamped with the current generation.</summary>
    private void NextGeneration()
    {
        if (++_generation == int.MaxValue)
        {
            Array.Clear(_slotGeneration);
            _generation = 1;
        }
    }
}
