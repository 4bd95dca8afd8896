using System.Net;
using PacketDotNet;
using PacketDotNet.Utils;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Inner IPv4 packets as a flannel peer's TUN would hand them to its proxy (reference/flannel.md §1.1: the UDP
/// payload is the bare IPv4 packet), built with PacketDotNet so the tests do not trust the code under test.
/// </summary>
internal static class OverlayPackets
{
    /// <summary>IPv4 + UDP with valid checksums.</summary>
    public static byte[] Udp(IPAddress source, IPAddress destination, ushort sourcePort, ushort destinationPort, byte[] payload, int ttl = 64)
    {
        var udp = new UdpPacket(sourcePort, destinationPort) { PayloadData = payload };
        var ip = new IPv4Packet(source, destination) { TimeToLive = ttl, Protocol = PacketDotNet.ProtocolType.Udp, PayloadPacket = udp };
        udp.UpdateCalculatedValues();
        ip.UpdateCalculatedValues();
        udp.UpdateUdpChecksum();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }

    /// <summary>IPv4 + UDP whose IPv4 Total Length is exactly <paramref name="totalLength"/>.</summary>
    public static byte[] UdpOfLength(IPAddress source, IPAddress destination, ushort destinationPort, int totalLength, int ttl = 64) =>
        Udp(source, destination, 5000, destinationPort, Filler(totalLength - 28), ttl);

    /// <summary>IPv4 + ICMP echo request with valid checksums.</summary>
    public static byte[] EchoRequest(IPAddress source, IPAddress destination, ushort id, ushort sequence, byte[] data, int ttl = 64)
    {
        var icmp = new IcmpV4Packet(new ByteArraySegment(new byte[8 + data.Length]))
        {
            TypeCode = IcmpV4TypeCode.EchoRequest,
            Id = id,
            Sequence = sequence,
            Data = data,
        };
        icmp.UpdateIcmpChecksum();
        var ip = new IPv4Packet(source, destination) { TimeToLive = ttl, Protocol = PacketDotNet.ProtocolType.Icmp, PayloadPacket = icmp };
        ip.UpdateCalculatedValues();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }

    /// <summary>Parses a received flannel payload as IPv4.</summary>
    public static IPv4Packet Parse(byte[] datagram) => new(new ByteArraySegment(datagram));

    /// <summary>Deterministic non-constant bytes (so a truncation or shift shows).</summary>
    public static byte[] Filler(int length)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++)
            b[i] = (byte)(i * 7 + 3);
        return b;
    }
}
