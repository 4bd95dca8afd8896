using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Dataplane.Packets;

namespace Dataplane.Tun.Interop;

/// <summary>struct sockaddr_in (netinet/in.h): 16 bytes, port and address in network order.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct SockAddrIn
{
    public const ushort AF_INET = 2;

    public ushort Family;
    public ushort PortBE;
    public uint AddressBE;
    private ulong _zero;

    /// <summary>Builds the native form of an endpoint.</summary>
    public static SockAddrIn From(UnderlayEndpoint endpoint) => new()
    {
        Family = AF_INET,
        PortBE = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(endpoint.Port) : endpoint.Port,
        AddressBE = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(endpoint.Address.Value) : endpoint.Address.Value,
    };

    /// <summary>The endpoint this address names.</summary>
    public readonly UnderlayEndpoint ToEndpoint() =>
        new(new Ipv4Address(FromNetwork(AddressBE)), FromNetwork(PortBE));

    private static uint FromNetwork(uint v) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;

    private static ushort FromNetwork(ushort v) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
}
