using System.Buffers.Binary;

namespace Dataplane.Offload;

/// <summary>GSO type of a <see cref="VirtioNetHeader"/> (include/uapi/linux/virtio_net.h VIRTIO_NET_HDR_GSO_*).</summary>
public enum GsoType : byte
{
    /// <summary>Not a super-packet.</summary>
    None = 0,
    /// <summary>TCP over IPv4, split by gso_size.</summary>
    TcpV4 = 1,
    /// <summary>Legacy UFO (IP fragmentation): never enabled by us, rejected.</summary>
    Udp = 3,
    /// <summary>TCP over IPv6.</summary>
    TcpV6 = 4,
    /// <summary>UDP L4 segmentation (USO): datagrams of gso_size payload bytes.</summary>
    UdpL4 = 5,
}

/// <summary>
/// <c>struct virtio_net_hdr</c> as a TUN opened with IFF_VNET_HDR prepends to every read and expects before every write:
/// flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (10 bytes). Fields are in host byte order for a TUN that
/// was never switched with TUNSETVNETBE, i.e. little-endian on the machines we run on.
/// </summary>
public readonly record struct VirtioNetHeader(byte Flags, GsoType GsoType, ushort HdrLen, ushort GsoSize, ushort CsumStart, ushort CsumOffset)
{
    /// <summary>sizeof(struct virtio_net_hdr).</summary>
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is a partial (pseudo-header) sum to be completed from csum_start.</summary>
    public const byte NeedsCsum = 1;

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified (receive side only).</summary>
    public const byte DataValid = 2;

    /// <summary>VIRTIO_NET_HDR_GSO_ECN: the sender set ECN on a TSO packet (CWR on the first segment only).</summary>
    public const byte GsoEcn = 0x80;

    /// <summary>True when the packet is a super-packet the reader must split.</summary>
    public bool IsGso => GsoType != GsoType.None;

    /// <summary>True when the L4 checksum must be completed before the packet leaves the host.</summary>
    public bool NeedsChecksum => (Flags & NeedsCsum) != 0;

    /// <summary>Parses the first <see cref="Length"/> bytes; false when there are fewer. The ECN bit is folded into <see cref="Flags"/>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out VirtioNetHeader header)
    {
        if (source.Length < Length)
        {
            header = default;
            return false;
        }
        byte gso = source[1];
        header = new VirtioNetHeader(
            (byte)(source[0] | (gso & GsoEcn)),
            (GsoType)(gso & ~GsoEcn),
            BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[8..]));
        return true;
    }

    /// <summary>Writes the header into the first <see cref="Length"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        destination[0] = (byte)(Flags & ~GsoEcn);
        destination[1] = (byte)((byte)GsoType | (Flags & GsoEcn));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], CsumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], CsumOffset);
    }
}
