using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>An ARP packet for IPv4 over Ethernet (RFC 826): 28 bytes.</summary>
public readonly ref struct ArpPacket
{
    /// <summary>Length for Ethernet/IPv4.</summary>
    public const int Length = 28;
    /// <summary>Operation: request.</summary>
    public const ushort OperationRequest = 1;
    /// <summary>Operation: reply.</summary>
    public const ushort OperationReply = 2;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold an Ethernet/IPv4 ARP packet (unchecked).</summary>
    public ArpPacket(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>Checked construction: 28 bytes, hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4.</summary>
    public static bool TryCreate(Span<byte> bytes, out ArpPacket packet, out DropReason reason)
    {
        packet = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(bytes) != 1 || BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]) != Packets.EtherType.Ipv4 ||
            bytes[4] != 6 || bytes[5] != 4)
        {
            reason = DropReason.UnsupportedL2;
            return false;
        }
        packet = new ArpPacket(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>Hardware type (1 = Ethernet).</summary>
    public ushort HardwareType => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    /// <summary>Protocol type (0x0800).</summary>
    public ushort ProtocolType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    /// <summary>Operation (1 request, 2 reply).</summary>
    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>Sender hardware address.</summary>
    public MacAddress SenderHardwareAddress => MacAddress.Read(_bytes[8..]);

    /// <summary>Sender protocol address.</summary>
    public Ipv4Address SenderProtocolAddress => Ipv4Address.Read(_bytes[14..]);

    /// <summary>Target hardware address.</summary>
    public MacAddress TargetHardwareAddress => MacAddress.Read(_bytes[18..]);

    /// <summary>Target protocol address.</summary>
    public Ipv4Address TargetProtocolAddress => Ipv4Address.Read(_bytes[24..]);

    /// <summary>Writes an Ethernet/IPv4 ARP packet.</summary>
    public static ArpPacket Write(Span<byte> destination, ushort operation, MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, 1);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Packets.EtherType.Ipv4);
        destination[4] = 6;
        destination[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], operation);
        senderMac.Write(destination[8..]);
        senderIp.Write(destination[14..]);
        targetMac.Write(destination[18..]);
        targetIp.Write(destination[24..]);
        return new ArpPacket(destination);
    }
}
