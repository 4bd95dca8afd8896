using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Packets;

namespace Dataplane.Tests;

/// <summary>Builds inner packets for tests with our own writers (cross-checked against PacketDotNet elsewhere).</summary>
internal static class PacketFactory
{
    public static readonly Ipv4Address PodA = Ipv4Address.Parse("10.244.1.2");
    public static readonly Ipv4Address PodB = Ipv4Address.Parse("10.244.2.3");

    /// <summary>An IPv4/UDP packet with a valid UDP checksum.</summary>
    public static byte[] Udp(int payloadLength = 32, byte ttl = 64, byte tos = 0, Ipv4Address? src = null, Ipv4Address? dst = null,
        ushort srcPort = 40000, ushort dstPort = 5201, int optionsLength = 0, ushort id = 0x1234)
    {
        int ihl = Ipv4Header.MinimumLength + optionsLength;
        int total = ihl + UdpHeader.Length + payloadLength;
        var bytes = new byte[total];
        var s = src ?? PodA;
        var d = dst ?? PodB;
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(tos, (ushort)total, id, true, ttl, IpProtocol.Udp, s, d));
        if (optionsLength > 0)
        {
            bytes[0] = (byte)(0x40 | ihl / 4);
            for (int i = 0; i < optionsLength; i++)
                bytes[20 + i] = 1; // NOP options
            new Ipv4Header(bytes).UpdateChecksum();
        }
        var udp = UdpHeader.Write(bytes.AsSpan(ihl), srcPort, dstPort, (ushort)(UdpHeader.Length + payloadLength));
        for (int i = 0; i < payloadLength; i++)
            bytes[ihl + UdpHeader.Length + i] = (byte)(i * 7 + 3);
        udp.Checksum = udp.ComputeChecksum(s, d);
        return bytes;
    }

    /// <summary>An ICMP echo request.</summary>
    public static byte[] Ping(int dataLength = 56, byte ttl = 64, Ipv4Address? src = null, Ipv4Address? dst = null)
    {
        int total = 20 + 8 + dataLength;
        var bytes = new byte[total];
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(0, (ushort)total, 7, true, ttl, IpProtocol.Icmp, src ?? PodA, dst ?? PodB));
        var icmp = bytes.AsSpan(20);
        icmp[0] = 8;
        BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], 0x00420001);
        for (int i = 0; i < dataLength; i++)
            icmp[8 + i] = (byte)i;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Compute(icmp));
        return bytes;
    }

    /// <summary>A minimal IPv6/UDP packet (checksum left 0: not validated by the code under test).</summary>
    public static byte[] Udp6(int payloadLength = 16, byte trafficClass = 0)
    {
        var bytes = new byte[40 + 8 + payloadLength];
        var src = new byte[16];
        var dst = new byte[16];
        src[0] = 0xfd; src[15] = 1;
        dst[0] = 0xfd; dst[15] = 2;
        Ipv6Header.Write(bytes, trafficClass, 0x12345, (ushort)(8 + payloadLength), IpProtocol.Udp, 64, src, dst);
        UdpHeader.Write(bytes.AsSpan(40), 1000, 2000, (ushort)(8 + payloadLength));
        return bytes;
    }

    /// <summary>A pooled-style buffer holding <paramref name="packet"/> with default headroom.</summary>
    public static PacketBuffer Buffer(ReadOnlySpan<byte> packet, int capacity = 2048)
    {
        var b = new PacketBuffer(capacity);
        b.Load(packet);
        return b;
    }
}
