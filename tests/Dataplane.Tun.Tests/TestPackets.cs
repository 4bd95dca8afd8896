using System.Buffers.Binary;
using Dataplane.Packets;

namespace Dataplane.Tun.Tests;

/// <summary>Tiny IPv4/ICMP/UDP helpers for building and checking test packets (independent of the code under test).</summary>
internal static class TestPackets
{
    /// <summary>RFC 1071 Internet checksum of <paramref name="data"/> with an initial sum.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> data, uint sum = 0)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length)
            sum += (uint)data[i] << 8;
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>Builds an IPv4 packet (no options) around <paramref name="payload"/>.</summary>
    public static byte[] Ipv4(Ipv4Address source, Ipv4Address destination, byte protocol, ReadOnlySpan<byte> payload, byte ttl = 64)
    {
        var p = new byte[20 + payload.Length];
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
        p[8] = ttl;
        p[9] = protocol;
        source.Write(p.AsSpan(12));
        destination.Write(p.AsSpan(16));
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum(p.AsSpan(0, 20)));
        payload.CopyTo(p.AsSpan(20));
        return p;
    }

    /// <summary>An ICMP echo reply answering the echo request <paramref name="request"/> (an IPv4 packet).</summary>
    public static byte[] EchoReply(ReadOnlySpan<byte> request)
    {
        int ihl = (request[0] & 0xF) * 4;
        var icmp = request[ihl..].ToArray();
        icmp[0] = 0; // echo reply
        icmp[2] = icmp[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), Checksum(icmp));
        return Ipv4(Ipv4Address.Read(request[16..]), Ipv4Address.Read(request[12..]), 1, icmp);
    }

    /// <summary>A UDP datagram inside IPv4, with a correct UDP checksum.</summary>
    public static byte[] Udp(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var udp = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        payload.CopyTo(udp.AsSpan(8));
        var sum = UdpChecksum(source, destination, udp);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), sum == 0 ? (ushort)0xFFFF : sum);
        return Ipv4(source, destination, 17, udp);
    }

    /// <summary>UDP checksum over the pseudo header and <paramref name="udp"/> (whose checksum field must be zero, or it verifies to 0).</summary>
    public static ushort UdpChecksum(Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> udp)
    {
        uint sum = (source.Value >> 16) + (source.Value & 0xFFFF) + (destination.Value >> 16) + (destination.Value & 0xFFFF) + 17u + (uint)udp.Length;
        return Checksum(udp, sum);
    }
}
