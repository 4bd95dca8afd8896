using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>An Ethernet II header: destination MAC, source MAC, EtherType (no 802.1Q tag).</summary>
public readonly ref struct EthernetHeader
{
    /// <summary>Header length.</summary>
    public const int Length = 14;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a header (unchecked).</summary>
    public EthernetHeader(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>Checked construction: 14 bytes present.</summary>
    public static bool TryCreate(Span<byte> bytes, out EthernetHeader header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        header = new EthernetHeader(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>Destination MAC.</summary>
    public MacAddress Destination { get => MacAddress.Read(_bytes); set => value.Write(_bytes); }

    /// <summary>Source MAC.</summary>
    public MacAddress Source { get => MacAddress.Read(_bytes[6..]); set => value.Write(_bytes[6..]); }

    /// <summary>EtherType.</summary>
    public ushort EtherType { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[12..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[12..], value); }

    /// <summary>The frame payload.</summary>
    public Span<byte> Payload => _bytes[Length..];

    /// <summary>Writes a header.</summary>
    public static EthernetHeader Write(Span<byte> destination, MacAddress dst, MacAddress src, ushort etherType)
    {
        dst.Write(destination);
        src.Write(destination[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[12..], etherType);
        return new EthernetHeader(destination);
    }
}
