using System.Buffers.Binary;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Tests.Offload;

/// <summary>
/// Builds what a TUN with IFF_VNET_HDR + TSO/USO hands us: a super-packet whose L4 checksum field holds the folded
/// pseudo-header sum over the whole L4 length (what __tcp_v4_send_check / udp_send_skb leave for CHECKSUM_PARTIAL),
/// and the virtio_net_hdr the kernel writes in front of it (virtio_net_hdr_from_skb).
/// </summary>
internal static class SuperPackets
{
    public static readonly byte[] Src6 = Convert.FromHexString("fd00000000000000000000000a000001");
    public static readonly byte[] Dst6 = Convert.FromHexString("fd00000000000000000000000a000002");
    public const uint Seq = 0x1000_0000;

    /// <summary>Deterministic payload bytes so concatenation can be compared.</summary>
    public static byte[] Payload(int length, int seed = 1)
    {
        var p = new byte[length];
        for (int i = 0; i < length; i++)
            p[i] = (byte)(i * 31 + seed + (i >> 8));
        return p;
    }

    /// <summary>
    /// A TCP super-packet. TCP options (<paramref name="tcpOptions"/>, a multiple of 4) default to a 12-byte
    /// NOP,NOP,timestamp block as Linux sends; IPv4 options are NOPs.
    /// </summary>
    public static byte[] Tcp(bool ipv6, ReadOnlySpan<byte> payload, byte flags = 0x10 | 0x08, int tcpOptions = 12,
        int ipv4Options = 0, ushort id = 0x4242, uint seq = Seq)
    {
        int ipLength = ipv6 ? 40 : 20 + ipv4Options;
        int tcpLength = 20 + tcpOptions;
        var bytes = new byte[ipLength + tcpLength + payload.Length];
        WriteIp(bytes, ipv6, ipv4Options, IpProtocol.Tcp, id);
        var tcp = bytes.AsSpan(ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 0xA0A0_0001);
        tcp[12] = (byte)(tcpLength / 4 << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 502);
        if (tcpOptions >= 12)
        {
            tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(tcp[24..], 0x01020304);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[28..], 0x05060708);
            for (int i = 32; i < tcpLength; i++) tcp[i] = 1;
        }
        else
        {
            for (int i = 20; i < tcpLength; i++) tcp[i] = 1;
        }
        payload.CopyTo(tcp[tcpLength..]);
        WritePartial(bytes, ipv6, ipLength, IpProtocol.Tcp, 16);
        return bytes;
    }

    /// <summary>A UDP super-packet (USO).</summary>
    public static byte[] Udp(bool ipv6, ReadOnlySpan<byte> payload, ushort id = 0x4242)
    {
        int ipLength = ipv6 ? 40 : 20;
        var bytes = new byte[ipLength + 8 + payload.Length];
        WriteIp(bytes, ipv6, 0, IpProtocol.Udp, id);
        var udp = bytes.AsSpan(ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40001);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 4789);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        WritePartial(bytes, ipv6, ipLength, IpProtocol.Udp, 6);
        return bytes;
    }

    /// <summary>The header the kernel would write for <paramref name="packet"/> (hdr_len = the whole packet, as for a linear skb).</summary>
    public static VirtioNetHeader Header(byte[] packet, ushort gsoSize)
    {
        bool ipv6 = packet[0] >> 4 == 6;
        int ipLength = ipv6 ? 40 : (packet[0] & 0xF) * 4;
        bool tcp = packet[ipv6 ? 6 : 9] == IpProtocol.Tcp;
        var type = gsoSize == 0 ? GsoType.None : tcp ? (ipv6 ? GsoType.TcpV6 : GsoType.TcpV4) : GsoType.UdpL4;
        return new VirtioNetHeader(VirtioNetHeader.NeedsCsum, type, (ushort)packet.Length, gsoSize,
            (ushort)ipLength, (ushort)(tcp ? 16 : 6));
    }

    public static int L4Offset(ReadOnlySpan<byte> packet) => packet[0] >> 4 == 6 ? 40 : (packet[0] & 0xF) * 4;

    /// <summary>The L4 checksum computed from scratch by the plain reference sum, for comparison.</summary>
    public static ushort ReferenceL4Checksum(ReadOnlySpan<byte> packet)
    {
        bool ipv6 = packet[0] >> 4 == 6;
        int ipLength = L4Offset(packet);
        int total = ipv6 ? 40 + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) : BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        byte proto = packet[ipv6 ? 6 : 9];
        int checkAt = ipLength + (proto == IpProtocol.Tcp ? 16 : 6);
        var pseudo = new List<byte>();
        pseudo.AddRange(ipv6 ? packet.Slice(8, 32).ToArray() : packet.Slice(12, 8).ToArray());
        int l4 = total - ipLength;
        pseudo.AddRange([(byte)(l4 >> 24), (byte)(l4 >> 16), (byte)(l4 >> 8), (byte)l4, 0, 0, 0, proto]);
        var seg = packet[ipLength..total].ToArray();
        seg[checkAt - ipLength] = 0;
        seg[checkAt - ipLength + 1] = 0;
        pseudo.AddRange(seg);
        uint sum = 0;
        var all = pseudo.ToArray();
        for (int i = 0; i < all.Length; i += 2)
            sum += (uint)(all[i] << 8 | (i + 1 < all.Length ? all[i + 1] : 0));
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static void WriteIp(byte[] bytes, bool ipv6, int ipv4Options, byte protocol, ushort id)
    {
        if (ipv6)
        {
            Ipv6Header.Write(bytes, 0, 0x54321, (ushort)(bytes.Length - 40), protocol, 64, Src6, Dst6);
            return;
        }
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(0, (ushort)bytes.Length, id, true, 64, protocol,
            PacketFactory.PodA, PacketFactory.PodB));
        if (ipv4Options > 0)
        {
            bytes[0] = (byte)(0x40 | (20 + ipv4Options) / 4);
            for (int i = 0; i < ipv4Options; i++)
                bytes[20 + i] = 1;
            new Ipv4Header(bytes).UpdateChecksum();
        }
    }

    private static void WritePartial(byte[] bytes, bool ipv6, int ipLength, byte protocol, int checkOffset)
    {
        var addresses = ipv6 ? bytes.AsSpan(8, 32) : bytes.AsSpan(12, 8);
        ulong pseudo = Checksum.PseudoHeaderSum(addresses, protocol, (uint)(bytes.Length - ipLength));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(ipLength + checkOffset), Checksum.Fold(pseudo));
    }
}
