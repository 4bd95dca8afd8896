using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// TUN → underlay, one packet per syscall (the per-packet I/O mode, flannel's <c>tun_to_udp</c> done better).
/// </summary>
/// <remarks>
/// <para>Flow per packet: read one IP packet from the TUN into the buffer's headroom-preserving window → look up the
/// destination (longest prefix; flannel scans linearly) → no route: ICMP net-unreachable back into the TUN
/// (rate-limited) and a counted drop → encapsulate in place for that peer's wire format (prepend into headroom, TTL
/// for flannel-udp) → send on the socket of that format.</para>
/// <para>Threading: <see cref="Run"/> runs on one dedicated thread for the life of the pump; the packet never changes
/// threads. It owns its two buffers (allocated once) and its <see cref="IcmpRateLimiter"/>. It shares the TUN with the
/// inbound pump (concurrent read and write are fine) and reads the forwarding table lock-free.</para>
/// </remarks>
public sealed class OutboundPump
{
    private readonly ITunDevice _tun;
    private readonly ForwardingTable _table;
    private readonly UnderlayBinding?[] _byKind;
    private readonly DropCounters _drops;
    private readonly IcmpRateLimiter _icmpLimiter;
    private readonly PacketBuffer _buffer;
    private readonly PacketBuffer _icmp;

    /// <summary>Creates the pump. <paramref name="bindings"/> gives the socket for each wire format the node speaks.</summary>
    public OutboundPump(ITunDevice tun, ForwardingTable table, IEnumerable<UnderlayBinding> bindings, DropCounters drops,
        IcmpRateLimiter? icmpLimiter = null, int bufferSize = 65536)
    {
        _tun = tun;
        _table = table;
        _drops = drops;
        _icmpLimiter = icmpLimiter ?? new IcmpRateLimiter();
        _byKind = new UnderlayBinding?[Enum.GetValues<EncapsulationKind>().Length];
        foreach (var b in bindings)
            _byKind[(int)b.Encapsulation.Kind] = b;
        _buffer = new PacketBuffer(bufferSize + PacketBuffer.DefaultHeadroom);
        _icmp = new PacketBuffer(IcmpErrors.MaxLength + PacketBuffer.DefaultHeadroom);
    }

    /// <summary>Packets sent to peers.</summary>
    public PumpCounters Sent { get; } = new();

    /// <summary>ICMP errors written back into the TUN.</summary>
    public long IcmpSent { get; private set; }

    /// <summary>Moves packets until the TUN is cancelled or closed. Call on a dedicated thread.</summary>
    public void Run()
    {
        var buffer = _buffer;
        int consecutiveErrors = 0;
        while (true)
        {
            buffer.Reset();
            var read = _tun.Read(buffer);
            if (read.Status != IoStatus.Ok)
            {
                if (read.Status == IoStatus.Closed)
                    return;
                _drops.Increment(DropReason.IoError);
                // A device that keeps failing (e.g. deleted under us: EBADFD) must not spin a core; the daemon's
                // watchdog decides what to do about it.
                if (++consecutiveErrors > 64)
                    Thread.Sleep(10);
                continue;
            }
            consecutiveErrors = 0;
            Forward(buffer);
        }
    }

    /// <summary>Handles one packet read from the TUN (exposed for tests and benchmarks).</summary>
    internal void Forward(PacketBuffer buffer)
    {
        var data = buffer.Data;
        if (data.Length < Ipv4Header.MinimumLength || data[0] >> 4 != 4)
        {
            // The table is IPv4 (as flannel's); IPv6 chatter from the TUN (e.g. router solicitations) lands here.
            _drops.Increment(data.Length < Ipv4Header.MinimumLength ? DropReason.Truncated : DropReason.BadIpVersion);
            return;
        }
        var destination = Ipv4Address.Read(data[16..]);
        if (!_table.TryLookup(destination, out var nextHop))
        {
            _drops.Increment(DropReason.NoRoute);
            SendNetUnreachable(data, destination);
            return;
        }
        var binding = _byKind[(int)nextHop.Encapsulation];
        if (binding is null)
        {
            _drops.Increment(DropReason.NoRoute); // the peer speaks a format this node has no socket for
            return;
        }
        var reason = binding.Encapsulation.Encapsulate(buffer, nextHop);
        if (reason != DropReason.None)
        {
            _drops.Increment(reason);
            return;
        }
        var sent = binding.Underlay.Send(buffer);
        if (sent.IsOk)
            Sent.Add(buffer.Length);
        else if (sent.Status != IoStatus.Closed)
            _drops.Increment(DropReason.IoError);
    }

    private void SendNetUnreachable(Span<byte> offender, Ipv4Address unreachable)
    {
        // Source = the unreachable destination itself: any address local to the node (flannel uses the TUN's /32)
        // is dropped by the kernel as a martian when written into the TUN, and the pod never sees the error.
        var icmp = _icmp;
        icmp.Reset();
        if (!IcmpErrors.TryBuildNetUnreachable(offender, unreachable, icmp.Writable, out int length))
            return;
        if (!Ipv4Header.TryCreate(offender, out var off, out _) || !_icmpLimiter.TryAcquire(off.SourceAddress))
            return;
        icmp.SetLength(length);
        if (_tun.Write(icmp).IsOk)
            IcmpSent++;
    }
}
