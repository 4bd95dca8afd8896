using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// Walks the <c>rtattr</c> list of a received message. Malformed lengths end the walk (the kernel does
/// not send them; a short read must not throw).
/// </summary>
internal ref struct NetlinkAttributes
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkAttributes(ReadOnlySpan<byte> attributes)
    {
        _rest = attributes;
        Type = 0;
        Value = default;
    }

    /// <summary>Attribute type with the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits removed.</summary>
    public ushort Type { get; private set; }

    public ReadOnlySpan<byte> Value { get; private set; }

    public bool MoveNext()
    {
        if (_rest.Length < 4)
            return false;
        ushort length = MemoryMarshal.Read<ushort>(_rest);
        if (length < 4 || length > _rest.Length)
            return false;
        Type = (ushort)(MemoryMarshal.Read<ushort>(_rest[2..]) & 0x3FFF);
        Value = _rest[4..length];
        int next = Math.Min(NetlinkMessageBuilder.Align(length), _rest.Length);
        _rest = _rest[next..];
        return true;
    }

    public readonly NetlinkAttributes GetEnumerator() => this;

    public readonly NetlinkAttributes Current => this;

    public readonly uint U32 => Value.Length >= 4 ? MemoryMarshal.Read<uint>(Value) : 0;

    public readonly byte U8 => Value.Length >= 1 ? Value[0] : (byte)0;

    public readonly ushort Be16 => Value.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Value) : (ushort)0;

    public readonly Ipv4Address Ipv4 => Value.Length >= 4 ? Ipv4Address.Read(Value) : default;

    public readonly MacAddress? Mac => Value.Length == MacAddress.Length ? MacAddress.Read(Value) : null;

    public readonly string String
    {
        get
        {
            int end = Value.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? Value : Value[..end]);
        }
    }
}
