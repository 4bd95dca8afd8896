using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using PacketDotNet;

namespace Control.Observe;

/// <summary>
/// One line per traced drop for <c>dataplane drops --follow</c>, decoded with PacketDotNet: the outer layer we know
/// from where it was dropped (a TUN packet, a flannel-udp payload, a VXLAN payload), the inner headers from the bytes
/// (at most the first 128, so a payload is usually cut short: decoding is best effort and falls back to hex).
/// </summary>
internal static class DropDecoder
{
    /// <summary>The line for one drop.</summary>
    public static string Describe(DropEntry drop)
    {
        var sb = new StringBuilder();
        sb.Append(drop.Time.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)).Append(' ')
            .Append(drop.Reason).Append(' ').Append(drop.Direction);
        if (drop.Peer is not null)
            sb.Append(" from ").Append(drop.Peer);
        sb.Append(' ').Append(drop.Layer).Append(' ').Append(drop.Length.ToString(CultureInfo.InvariantCulture)).Append(" B: ");
        sb.Append(Decode(drop.Layer, drop.Bytes));
        if (drop.Missed > 0)
            sb.Append(CultureInfo.InvariantCulture, $" ({drop.Missed} earlier drops not shown: the follower fell behind)");
        return sb.ToString();
    }

    /// <summary>Decodes the captured bytes for their layer.</summary>
    public static string Decode(string layer, byte[] bytes)
    {
        try
        {
            if (layer == "vxlan")
            {
                if (bytes.Length < 8)
                    return "VXLAN (truncated) " + Convert.ToHexString(bytes);
                uint vni = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4)) >> 8;
                var frame = Packet.ParsePacket(LinkLayers.Ethernet, bytes[8..]);
                return $"VXLAN flags 0x{bytes[0]:x2} VNI {vni}, " + Describe(frame);
            }
            return Describe(Packet.ParsePacket(LinkLayers.Raw, bytes));
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or NotSupportedException or OverflowException)
        {
            return "undecodable: " + Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 48)));
        }
    }

    private static string Describe(Packet packet)
    {
        var parts = new List<string>();
        if (packet is EthernetPacket eth)
        {
            parts.Add($"Ethernet {eth.SourceHardwareAddress} > {eth.DestinationHardwareAddress} {eth.Type}");
            if (eth.Type == EthernetType.Arp && eth.Extract<ArpPacket>() is { } arp)
            {
                parts.Add($"ARP {arp.Operation} who-has {arp.TargetProtocolAddress} tell {arp.SenderProtocolAddress}");
                return string.Join(", ", parts);
            }
        }
        if (packet.Extract<IPv4Packet>() is { } ip)
            parts.Add($"IPv4 {ip.SourceAddress} > {ip.DestinationAddress} ttl {ip.TimeToLive} len {ip.TotalLength}");
        else if (packet.Extract<IPv6Packet>() is { } ip6)
            parts.Add($"IPv6 {ip6.SourceAddress} > {ip6.DestinationAddress}");
        if (packet.Extract<TcpPacket>() is { } tcp)
            parts.Add($"TCP {tcp.SourcePort} > {tcp.DestinationPort} flags 0x{tcp.Flags:x2} seq {tcp.SequenceNumber}");
        else if (packet.Extract<UdpPacket>() is { } udp)
            parts.Add($"UDP {udp.SourcePort} > {udp.DestinationPort} len {udp.Length}");
        else if (packet.Extract<IcmpV4Packet>() is { } icmp)
            parts.Add($"ICMP {icmp.TypeCode}");
        return parts.Count == 0 ? "not IP: " + Convert.ToHexString(packet.Bytes.AsSpan(0, Math.Min(packet.Bytes.Length, 48))) : string.Join(", ", parts);
    }
}
