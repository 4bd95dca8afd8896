using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// Builds one netlink request: <c>nlmsghdr | family header | attributes</c>, each 4-byte aligned, in
/// host byte order except addresses and ports (network order). Control-path only: it allocates.
/// </summary>
internal sealed class NetlinkMessageBuilder
{
    private byte[] _buffer = new byte[256];
    private int _length;

    public NetlinkMessageBuilder(ushort type, ushort flags)
    {
        Type = type;
        Flags = flags;
        _length = Nl.HeaderLength;
    }

    public ushort Type { get; }

    public ushort Flags { get; }

    /// <summary>Appends <paramref name="count"/> zeroed bytes (padded to 4) and returns them to fill.</summary>
    public Span<byte> Append(int count)
    {
        int aligned = Align(count);
        Ensure(aligned);
        var span = _buffer.AsSpan(_length, aligned);
        span.Clear();
        _length += aligned;
        return span[..count];
    }

    public void Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        var span = Append(4 + value.Length);
        MemoryMarshal.Write(span, (ushort)(4 + value.Length));
        MemoryMarshal.Write(span[2..], type);
        value.CopyTo(span[4..]);
    }

    public void U8(ushort type, byte value) => Attribute(type, [value]);

    public void U32(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        MemoryMarshal.Write(v, value);
        Attribute(type, v);
    }

    /// <summary>A 16-bit value in network order (IFLA_VXLAN_PORT).</summary>
    public void Be16(ushort type, ushort value)
    {
        Span<byte> v = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(v, value);
        Attribute(type, v);
    }

    public void Ipv4(ushort type, Ipv4Address address)
    {
        Span<byte> v = stackalloc byte[4];
        address.Write(v);
        Attribute(type, v);
    }

    public void Mac(ushort type, MacAddress mac)
    {
        Span<byte> v = stackalloc byte[MacAddress.Length];
        mac.Write(v);
        Attribute(type, v);
    }

    /// <summary>A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND).</summary>
    public void String(ushort type, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value + "\0");
        Attribute(type, bytes);
    }

    /// <summary>Starts a nested attribute; pass the result to <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        int start = _length;
        var span = Append(4);
        MemoryMarshal.Write(span[2..], type);
        return start;
    }

    public void EndNested(int start) => MemoryMarshal.Write(_buffer.AsSpan(start), (ushort)(_length - start));

    /// <summary>Writes the header with <paramref name="sequence"/> and returns the finished message.</summary>
    public ReadOnlySpan<byte> Finish(uint sequence)
    {
        var header = _buffer.AsSpan(0, Nl.HeaderLength);
        MemoryMarshal.Write(header, (uint)_length);
        MemoryMarshal.Write(header[4..], Type);
        MemoryMarshal.Write(header[6..], Flags);
        MemoryMarshal.Write(header[8..], sequence);
        MemoryMarshal.Write(header[12..], 0u);
        return _buffer.AsSpan(0, _length);
    }

    public static int Align(int length) => (length + 3) & ~3;

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
    }
}
