using BenchmarkDotNet.Attributes;
using Dataplane.Packets;

namespace Dataplane.Bench.Packets;

/// <summary>
/// RFC 1071 checksum at 64 B and 1400 B against a plain 16-bit-word loop (the textbook form flannel-class code
/// uses), plus the RFC 1624 TTL decrement. All must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private byte[] _data = null!;
    private byte[] _header = null!;

    /// <summary>Bytes summed.</summary>
    [Params(64, 1400)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
        _header = new byte[20];
        Ipv4Header.Write(_header, new Ipv4HeaderFields(0, 1400, 1, true, 255, IpProtocol.Udp, new Ipv4Address(0x0AF40102), new Ipv4Address(0x0AF40203)));
    }

    /// <summary>Our vectorised sum.</summary>
    [Benchmark]
    public ushort Compute() => Checksum.Compute(_data);

    /// <summary>The textbook loop: one big-endian 16-bit word at a time, 32-bit accumulator.</summary>
    [Benchmark(Baseline = true)]
    public ushort Naive()
    {
        var d = _data;
        uint sum = 0;
        int i = 0;
        for (; i + 1 < d.Length; i += 2)
            sum += (uint)(d[i] << 8 | d[i + 1]);
        if (i < d.Length)
            sum += (uint)d[i] << 8;
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>TTL decrement with the incremental checksum patch (restores TTL so every call does the same work).</summary>
    [Benchmark]
    public bool DecrementTtl()
    {
        var h = new Ipv4Header(_header);
        bool ok = h.TryDecrementTimeToLive();
        if (h.TimeToLive < 2)
        {
            h.TimeToLive = 255;
            h.UpdateChecksum();
        }
        return ok;
    }
}
