using System.Buffers.Binary;

namespace Dataplane.Offload;

/// <summary>
/// The GSO type of a <see cref="VirtioNetHeader"/> without its ECN bit: the values of
/// <c>VIRTIO_NET_HDR_GSO_*</c> in include/uapi/linux/virtio_net.h.
/// </summary>
public enum GsoType : byte
{
    /// <summary>Not a GSO packet (VIRTIO_NET_HDR_GSO_NONE).</summary>
    None = 0,
    /// <summary>TCP over IPv4 (VIRTIO_NET_HDR_GSO_TCPV4).</summary>
    TcpV4 = 1,
    /// <summary>
    /// Legacy UDP fragmentation offload (VIRTIO_NET_HDR_GSO_UDP, UFO): the kernel would emit IP fragments, not
    /// datagrams. TUN_F_UFO is never requested, so it only arrives from a lying header; it is rejected.
    /// </summary>
    Udp = 3,
    /// <summary>TCP over IPv6 (VIRTIO_NET_HDR_GSO_TCPV6).</summary>
    TcpV6 = 4,
    /// <summary>UDP segmentation offload, either IP version (VIRTIO_NET_HDR_GSO_UDP_L4, USO, Linux 6.2+ for TUN).</summary>
    UdpL4 = 5,
}

/// <summary>
/// The 10-byte <c>struct virtio_net_hdr</c> a TUN opened with IFF_VNET_HDR puts in front of every packet it
/// reads and expects in front of every packet written (include/uapi/linux/virtio_net.h).
/// </summary>
/// <remarks>
/// Multi-byte fields are little-endian: TUN uses the virtio "legacy" byte order, which is the host's, unless
/// TUNSETVNETBE was called (drivers/net/tun.c tun_is_little_endian), and this project runs on little-endian hosts
/// and never calls it. Nothing here is validated against a packet; that is <see cref="GsoSegmenter"/>'s job, and
/// <see cref="HdrLen"/> in particular is only the kernel's hint of how much of the skb was linear
/// (include/linux/virtio_net.h virtio_net_hdr_from_skb: hdr_len = skb_headlen), never a header length.
/// </remarks>
public readonly struct VirtioNetHeader
{
    /// <summary>Size on the wire (TUNGETVNETHDRSZ default).</summary>
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is partial (CHECKSUM_PARTIAL); see <see cref="CsumStart"/>.</summary>
    public const byte NeedsCsum = 1;

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was already verified (CHECKSUM_UNNECESSARY).</summary>
    public const byte DataValid = 2;

    /// <summary>VIRTIO_NET_HDR_GSO_ECN: the bit of the raw gso_type byte that carries <see cref="Ecn"/>.</summary>
    public const byte GsoEcnBit = 0x80;

    /// <summary>Creates a header from its fields.</summary>
    public VirtioNetHeader(byte flags, GsoType gsoType, ushort hdrLen, ushort gsoSize, ushort csumStart, ushort csumOffset, bool ecn = false)
    {
        Flags = flags;
        GsoType = gsoType;
        Ecn = ecn;
        HdrLen = hdrLen;
        GsoSize = gsoSize;
        CsumStart = csumStart;
        CsumOffset = csumOffset;
    }

    /// <summary>Flag bits (<see cref="NeedsCsum"/>, <see cref="DataValid"/>; others kept as read).</summary>
    public byte Flags { get; }

    /// <summary>The GSO type with the ECN bit removed; may hold a value the enum does not name (kept as read).</summary>
    public GsoType GsoType { get; }

    /// <summary>
    /// VIRTIO_NET_HDR_GSO_ECN (SKB_GSO_TCP_ECN): the TCP super-packet has CWR set; segmentation keeps CWR on the
    /// first segment only either way (net/ipv4/tcp_offload.c tcp_gso_segment).
    /// </summary>
    public bool Ecn { get; }

    /// <summary>hdr_len as sent: a linear-length hint from the kernel, not trusted for anything.</summary>
    public ushort HdrLen { get; }

    /// <summary>gso_size: the L4 payload bytes per segment (TCP MSS, or UDP payload per datagram).</summary>
    public ushort GsoSize { get; }

    /// <summary>csum_start: offset from the IP header of the first byte the L4 checksum covers (the L4 header).</summary>
    public ushort CsumStart { get; }

    /// <summary>csum_offset: offset from <see cref="CsumStart"/> of the checksum field (16 for TCP, 6 for UDP).</summary>
    public ushort CsumOffset { get; }

    /// <summary>True when <see cref="NeedsCsum"/> is set.</summary>
    public bool NeedsChecksum => (Flags & NeedsCsum) != 0;

    /// <summary>Parses the first <see cref="Length"/> bytes; false only when fewer are given.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out VirtioNetHeader header)
    {
        if (source.Length < Length)
        {
            header = default;
            return false;
        }
        byte type = source[1];
        header = new VirtioNetHeader(
            source[0],
            (GsoType)(type & ~GsoEcnBit),
            BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[8..]),
            (type & GsoEcnBit) != 0);
        return true;
    }

    /// <summary>Writes the header into the first <see cref="Length"/> bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Length"/>.</exception>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException("destination is shorter than a virtio_net_hdr", nameof(destination));
        destination[0] = Flags;
        destination[1] = (byte)((byte)GsoType | (Ecn ? GsoEcnBit : 0));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], CsumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], CsumOffset);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"flags={Flags} gso={GsoType}{(Ecn ? "|ECN" : "")} hdr_len={HdrLen} gso_size={GsoSize} csum={CsumStart}+{CsumOffset}";
}
