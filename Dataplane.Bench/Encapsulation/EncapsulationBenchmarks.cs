using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Bench.Encapsulation;

/// <summary>
/// Encapsulate and decapsulate for both wire formats at 64 B and 1400 B inner packets, and a whole
/// lookup → encapsulate → decapsulate round trip. Each operation starts from a buffer reset to the same inner packet
/// (a 64 B or 1400 B copy, included in the time, as a TUN read would put it there). Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class EncapsulationBenchmarks
{
    private static readonly MacAddress Ours = new(0x02_AA_00_00_00_01);
    private static readonly MacAddress Peer = new(0x0A_BB_00_00_00_02);
    private readonly PacketBuffer _buffer = new(2048);
    private byte[] _inner = null!;
    private byte[] _vxlanPayload = null!;
    private FlannelUdpEncapsulation _udp = null!;
    private VxlanEncapsulation _vxlan = null!;
    private VxlanEncapsulation _vxlanPeer = null!;
    private NextHop _udpHop;
    private NextHop _vxlanHop;
    private ForwardingTable _table = null!;
    private Ipv4Address _destination;

    /// <summary>Inner IP packet size.</summary>
    [Params(64, 1400)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _inner = new byte[Size];
        _destination = new Ipv4Address(0x0AF40203);
        Ipv4Header.Write(_inner, new Ipv4HeaderFields(0, (ushort)Size, 1, true, 255, IpProtocol.Udp, new Ipv4Address(0x0AF40102), _destination));
        _udp = new FlannelUdpEncapsulation(1472);
        _vxlan = new VxlanEncapsulation(1, Ours, 1450);
        _vxlanPeer = new VxlanEncapsulation(1, Peer, 1450);
        var endpoint = new UnderlayEndpoint(new Ipv4Address(0xC6120002), 8285);
        _udpHop = new NextHop(endpoint, EncapsulationKind.FlannelUdp);
        _vxlanHop = new NextHop(endpoint with { Port = 8472 }, EncapsulationKind.Vxlan, Peer, 1);
        _table = new ForwardingTable();
        var updates = new RouteUpdate[256];
        for (int i = 0; i < updates.Length; i++)
            updates[i] = RouteUpdate.Upsert(new Ipv4Prefix(new Ipv4Address(0x0AF40000u | (uint)i << 8), 24), _vxlanHop);
        _table.Apply(updates);

        _buffer.Reset();
        _buffer.Load(_inner);
        _vxlan.Encapsulate(_buffer, _vxlanHop);
        _vxlanPayload = _buffer.Data.ToArray();
    }

    private PacketBuffer Fresh(byte[] bytes)
    {
        _buffer.Reset();
        _buffer.Load(bytes);
        return _buffer;
    }

    /// <summary>Buffer reset + copy only: the floor every other case includes.</summary>
    [Benchmark(Baseline = true)]
    public int ResetAndLoad() => Fresh(_inner).Length;

    /// <summary>flannel-udp send side: validate, TTL − 1 with RFC 1624 patch (TTL restored by the reload).</summary>
    [Benchmark]
    public DropReason FlannelUdpEncapsulate() => _udp.Encapsulate(Fresh(_inner), _udpHop);

    /// <summary>flannel-udp receive side.</summary>
    [Benchmark]
    public DropReason FlannelUdpDecapsulate() => _udp.Decapsulate(Fresh(_inner));

    /// <summary>VXLAN send side: validate, prepend VXLAN + inner Ethernet into headroom, ECN → outer TOS.</summary>
    [Benchmark]
    public DropReason VxlanEncapsulate() => _vxlan.Encapsulate(Fresh(_inner), _vxlanHop);

    /// <summary>VXLAN receive side with the kernel's checks (flags, VNI, MACs, inner IPv4).</summary>
    [Benchmark]
    public DropReason VxlanDecapsulate() => _vxlanPeer.Decapsulate(Fresh(_vxlanPayload));

    /// <summary>Outbound + inbound work of one packet without the syscalls: lookup, encapsulate, decapsulate.</summary>
    [Benchmark]
    public DropReason VxlanRoundTrip()
    {
        var b = Fresh(_inner);
        _table.TryLookup(_destination, out var hop);
        var r = _vxlan.Encapsulate(b, hop);
        return r != DropReason.None ? r : _vxlanPeer.Decapsulate(b);
    }

    /// <summary>The same round trip in flannel-udp format.</summary>
    [Benchmark]
    public DropReason FlannelUdpRoundTrip()
    {
        var b = Fresh(_inner);
        _table.TryLookup(_destination, out var hop);
        var r = _udp.Encapsulate(b, hop with { Encapsulation = EncapsulationKind.FlannelUdp });
        return r != DropReason.None ? r : _udp.Decapsulate(b);
    }
}
