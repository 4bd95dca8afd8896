using System.Net;
using System.Net.NetworkInformation;
using PacketDotNet;

namespace Control.Tests.EndToEnd;

/// <summary>
/// What a peer (or someone spoofing its address) can put in a datagram beyond <see cref="OverlayPackets"/>: inner IPv6,
/// VXLAN framing as a kernel flannel.1 sends it (RFC 7348 §5: flags 0x08, VNI in bytes 4–6, then the inner Ethernet
/// frame), and ARP requests inside it. Built by hand and with PacketDotNet, not with the code under test.
/// </summary>
internal static class PeerFrames
{
    public const ushort EtherTypeIpv4 = 0x0800;
    public const ushort EtherTypeArp = 0x0806;
    public const ushort EtherTypeIpv6 = 0x86DD;

    /// <summary>IPv6 + UDP with a valid checksum.</summary>
    public static byte[] Udp6(IPAddress source, IPAddress destination, ushort destinationPort, byte[] payload)
    {
        var udp = new UdpPacket(5000, destinationPort) { PayloadData = payload };
        var ip = new IPv6Packet(source, destination) { HopLimit = 64, NextHeader = PacketDotNet.ProtocolType.Udp, PayloadPacket = udp };
        udp.UpdateCalculatedValues();
        ip.UpdateCalculatedValues();
        udp.UpdateUdpChecksum();
        return ip.Bytes;
    }

    /// <summary>The VXLAN UDP payload carrying <paramref name="payload"/> in an Ethernet frame <paramref name="source"/> → <paramref name="destination"/>.</summary>
    public static byte[] Vxlan(int vni, string destination, string source, ushort etherType, byte[] payload)
    {
        var frame = new byte[8 + 14 + payload.Length];
        frame[0] = 0x08; // I flag: the VNI is valid; every other bit reserved (zero)
        frame[4] = (byte)(vni >> 16);
        frame[5] = (byte)(vni >> 8);
        frame[6] = (byte)vni;
        Mac(destination).CopyTo(frame, 8);
        Mac(source).CopyTo(frame, 14);
        frame[20] = (byte)(etherType >> 8);
        frame[21] = (byte)etherType;
        payload.CopyTo(frame, 22);
        return frame;
    }

    /// <summary>
    /// An ARP request "who has <paramref name="target"/>, tell <paramref name="senderIp"/> at <paramref name="senderMac"/>"
    /// (the 28-byte Ethernet/IPv4 ARP body; the Ethernet header comes from <see cref="Vxlan"/>).
    /// </summary>
    public static byte[] ArpRequest(string senderMac, IPAddress senderIp, IPAddress target) =>
        new ArpPacket(ArpOperation.Request, new PhysicalAddress(new byte[6]), target, new PhysicalAddress(Mac(senderMac)), senderIp).Bytes;

    /// <summary>The ARP body of a VXLAN datagram (after the 22 bytes of VXLAN and Ethernet header), or null when it is none.</summary>
    public static ArpPacket? ArpIn(byte[] vxlanPayload)
    {
        if (vxlanPayload.Length < 22 + 28 || (vxlanPayload[20] << 8 | vxlanPayload[21]) != EtherTypeArp)
            return null;
        return new ArpPacket(new PacketDotNet.Utils.ByteArraySegment(vxlanPayload, 22, vxlanPayload.Length - 22));
    }

    private static byte[] Mac(string text) => text.Split(':').Select(b => Convert.ToByte(b, 16)).ToArray();
}
