using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>
/// A view of a UDP datagram (RFC 768): 8-byte header then payload. Never allocates.
/// </summary>
/// <remarks>
/// <code>
/// |          Source Port          |       Destination Port        | 0
/// |            Length             |           Checksum            | 4
/// </code>
/// </remarks>
public readonly ref struct UdpHeader
{
    /// <summary>Header length.</summary>
    public const int Length = 8;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a valid header (unchecked).</summary>
    public UdpHeader(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>Checked construction: 8 bytes present, Length field between 8 and the buffer size.</summary>
    public static bool TryCreate(Span<byte> bytes, out UdpHeader header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        if (length < Length || length > bytes.Length)
        {
            reason = DropReason.BadTotalLength;
            return false;
        }
        header = new UdpHeader(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>Source Port.</summary>
    public ushort SourcePort { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes, value); }

    /// <summary>Destination Port.</summary>
    public ushort DestinationPort { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[2..], value); }

    /// <summary>Length: header plus payload.</summary>
    public ushort TotalLength { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[4..], value); }

    /// <summary>Checksum as stored (0 means "not computed" over IPv4).</summary>
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[6..], value); }

    /// <summary>The datagram (header and payload) up to the Length field.</summary>
    public Span<byte> Datagram => _bytes[..TotalLength];

    /// <summary>The payload up to the Length field.</summary>
    public Span<byte> Payload => _bytes[Length..TotalLength];

    /// <summary>The checksum this datagram should carry over IPv4 (0 is sent as 0xFFFF, RFC 768).</summary>
    public ushort ComputeChecksum(Ipv4Address source, Ipv4Address destination)
    {
        ushort saved = Checksum;
        Checksum = 0;
        ulong sum = Packets.Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, TotalLength);
        ushort result = Packets.Checksum.Finish(Packets.Checksum.Sum(Datagram, sum));
        Checksum = saved;
        return result == 0 ? (ushort)0xFFFF : result;
    }

    /// <summary>True when the checksum is 0 (not computed; allowed over IPv4) or verifies.</summary>
    public bool IsChecksumValidOrZero(Ipv4Address source, Ipv4Address destination)
    {
        if (Checksum == 0)
            return true;
        ulong sum = Packets.Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, TotalLength);
        return Packets.Checksum.Fold(Packets.Checksum.Sum(Datagram, sum)) == 0xFFFF;
    }

    /// <summary>Writes a header; the checksum is left 0 (call <see cref="ComputeChecksum"/> to fill it).</summary>
    public static UdpHeader Write(Span<byte> destination, ushort sourcePort, ushort destinationPort, ushort totalLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], 0);
        return new UdpHeader(destination);
    }
}
