using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>
/// A view of an IPv6 packet (RFC 8200) over its bytes. Never allocates.
/// </summary>
/// <remarks>
/// <code>
/// |Version| Traffic Class |           Flow Label                  |  0
/// |         Payload Length        |  Next Header  |   Hop Limit   |  4
/// |                         Source Address (16)                   |  8
/// |                      Destination Address (16)                 | 24
/// </code>
/// </remarks>
public readonly ref struct Ipv6Header
{
    /// <summary>Fixed header length.</summary>
    public const int Length = 40;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a valid header (unchecked).</summary>
    public Ipv6Header(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>Checked construction: version 6, 40 bytes present, Payload Length within the buffer.</summary>
    public static bool TryCreate(Span<byte> bytes, out Ipv6Header header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        if (bytes[0] >> 4 != 6)
        {
            reason = DropReason.BadIpVersion;
            return false;
        }
        if (Length + BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]) > bytes.Length)
        {
            reason = DropReason.BadTotalLength;
            return false;
        }
        header = new Ipv6Header(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>Version (6).</summary>
    public int Version => _bytes[0] >> 4;

    /// <summary>Traffic Class (DSCP and ECN).</summary>
    public byte TrafficClass
    {
        get => (byte)((_bytes[0] & 0x0F) << 4 | _bytes[1] >> 4);
        set
        {
            _bytes[0] = (byte)(0x60 | value >> 4);
            _bytes[1] = (byte)((value & 0x0F) << 4 | (_bytes[1] & 0x0F));
        }
    }

    /// <summary>Flow Label (20 bits).</summary>
    public uint FlowLabel => BinaryPrimitives.ReadUInt32BigEndian(_bytes) & 0xFFFFF;

    /// <summary>Payload Length (bytes after the fixed header).</summary>
    public ushort PayloadLength { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[4..], value); }

    /// <summary>Next Header.</summary>
    public byte NextHeader { get => _bytes[6]; set => _bytes[6] = value; }

    /// <summary>Hop Limit.</summary>
    public byte HopLimit { get => _bytes[7]; set => _bytes[7] = value; }

    /// <summary>Source Address (16 bytes).</summary>
    public Span<byte> SourceAddress => _bytes.Slice(8, 16);

    /// <summary>Destination Address (16 bytes).</summary>
    public Span<byte> DestinationAddress => _bytes.Slice(24, 16);

    /// <summary>The packet up to the fixed header plus Payload Length.</summary>
    public Span<byte> Packet => _bytes[..(Length + PayloadLength)];

    /// <summary>Payload (extension headers included).</summary>
    public Span<byte> Payload => _bytes.Slice(Length, PayloadLength);

    /// <summary>Writes the fixed header.</summary>
    public static Ipv6Header Write(Span<byte> destination, byte trafficClass, uint flowLabel, ushort payloadLength,
        byte nextHeader, byte hopLimit, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destinationAddress)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, 6u << 28 | (uint)trafficClass << 20 | (flowLabel & 0xFFFFF));
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], payloadLength);
        destination[6] = nextHeader;
        destination[7] = hopLimit;
        source[..16].CopyTo(destination[8..]);
        destinationAddress[..16].CopyTo(destination[24..]);
        return new Ipv6Header(destination);
    }
}
