using Dataplane.Buffers;
using Dataplane.Packets;

namespace Dataplane.Encapsulation;

/// <summary>
/// Answers ARP requests that kernel VXLAN peers send us inside VXLAN, so their neighbour entry for our VTEP address
/// turns REACHABLE again.
/// </summary>
/// <remarks>
/// <para>flanneld programs a permanent neighbour entry (our <c>.0</c> → our VTEP MAC) on every peer, so normally no ARP
/// crosses the wire. But an entry that is not permanent (an operator's, or a kernel that aged it) goes STALE, and the
/// kernel then sends <em>unicast</em> ARP probes to the cached MAC, i.e. VXLAN-encapsulated to us. We answer requests
/// for any address in our subnet (we are the VTEP for all of it) with our VTEP MAC.</para>
/// <para>Broadcast: a flanneld-programmed peer never sends us a broadcast ARP (it has no all-zeros FDB entry, so its
/// kernel drops broadcasts before encapsulation), but a datagram can carry anything, so a request to the broadcast MAC is
/// accepted like a unicast one (a peer with an all-zeros FDB entry would send those). Either way the reply goes only to
/// the datagram's source, is no larger than the request, and only when the request is well formed, from a peer (the
/// ARP sender address is routed to the datagram's source, checked by the caller's predicate) and within the rate
/// limit: we are never an amplifier, and a peer can make us reflect at most <see cref="RepliesPerSecond"/> replies a
/// second (plus a small burst). Refused requests are counted drops (<c>ArpRefused</c>).</para>
/// <para>The reply is built in place in the received buffer (no allocation) and sent back to the datagram's source
/// address. Not thread-safe: it belongs to the VXLAN socket's one inbound pump thread (the rate limiter's state).</para>
/// </remarks>
public sealed class VxlanArpResponder
{
    private const int EthOffset = VxlanHeader.Length;
    private const int ArpOffset = VxlanHeader.Length + EthernetHeader.Length;

    private readonly VxlanEncapsulation _vxlan;
    private readonly Ipv4Prefix _ourSubnet;
    private readonly Func<Ipv4Address, Ipv4Address, bool>? _senderAllowed;
    private readonly TimeProvider _time;
    private readonly double _perTick;
    private readonly double _burst;
    private double _tokens;
    private long _last;

    /// <summary>
    /// Answers for <paramref name="ourSubnet"/> with the VTEP MAC and VNI of <paramref name="vxlan"/>, at most
    /// <paramref name="repliesPerSecond"/> a second (burst <paramref name="burst"/>), and only to requests whose sender
    /// address <paramref name="senderAllowed"/>(outer source, ARP sender address) accepts (null: any).
    /// </summary>
    public VxlanArpResponder(VxlanEncapsulation vxlan, Ipv4Prefix ourSubnet, Func<Ipv4Address, Ipv4Address, bool>? senderAllowed = null,
        int repliesPerSecond = 100, int burst = 10, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repliesPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _vxlan = vxlan;
        _ourSubnet = ourSubnet;
        _senderAllowed = senderAllowed;
        _time = time ?? TimeProvider.System;
        RepliesPerSecond = repliesPerSecond;
        _perTick = (double)repliesPerSecond / _time.TimestampFrequency;
        _burst = burst;
        _tokens = burst;
        _last = _time.GetTimestamp();
    }

    /// <summary>Most replies per second (after the burst).</summary>
    public int RepliesPerSecond { get; }

    /// <summary>Requests refused (rate limit, or a sender that is not the peer's).</summary>
    public long Refused { get; private set; }

    /// <summary>ARP requests answered so far.</summary>
    public long Answered => Volatile.Read(ref _answered);

    private long _answered;

    /// <summary>
    /// If <paramref name="datagram"/> (a received VXLAN UDP payload) is an ARP request we answer, rewrites it into the
    /// VXLAN payload of the reply and returns <see cref="ArpOutcome.Answered"/>; the caller sends it back to
    /// <see cref="PacketBuffer.Peer"/>. A request we refuse is <see cref="ArpOutcome.Refused"/> (a counted drop).
    /// Anything else is <see cref="ArpOutcome.NotArp"/> with the buffer untouched (cheap: a length and an EtherType check
    /// for data frames); it goes on to decapsulation, which drops non-IP frames.
    /// </summary>
    public ArpOutcome TryAnswer(PacketBuffer datagram)
    {
        var p = datagram.Data;
        if (p.Length < ArpOffset + ArpPacket.Length)
            return ArpOutcome.NotArp;
        var eth = new EthernetHeader(p[EthOffset..]);
        if (eth.EtherType != EtherType.Arp)
            return ArpOutcome.NotArp;
        var outcome = Check(p, eth, datagram.Peer.Address, out var target, out var senderMac, out var senderIp);
        if (outcome != ArpOutcome.Answered)
            return outcome;
        var mac = _vxlan.LocalMac;
        // Same VXLAN header (our VNI), Ethernet back to the asker, ARP reply: we are `target` at our MAC.
        EthernetHeader.Write(p[EthOffset..], eth.Source, mac, EtherType.Arp);
        ArpPacket.Write(p[ArpOffset..], ArpPacket.OperationReply, mac, target, senderMac, senderIp);
        datagram.SetLength(ArpOffset + ArpPacket.Length);
        datagram.OuterTos = 0;
        Interlocked.Increment(ref _answered);
        return ArpOutcome.Answered;
    }

    private ArpOutcome Check(Span<byte> p, EthernetHeader eth, Ipv4Address outerSource, out Ipv4Address target, out MacAddress senderMac, out Ipv4Address senderIp)
    {
        target = default;
        senderMac = default;
        senderIp = default;
        if (!VxlanHeader.TryCreate(p, out var vx, out _) || vx.Vni != _vxlan.Vni)
            return ArpOutcome.NotArp;
        var mac = _vxlan.LocalMac;
        var dst = eth.Destination;
        var src = eth.Source;
        if ((dst != mac && dst != MacAddress.Broadcast) || src == mac || src.IsMulticast)
            return ArpOutcome.NotArp;
        if (!ArpPacket.TryCreate(p[ArpOffset..], out var arp, out _) || arp.Operation != ArpPacket.OperationRequest)
            return ArpOutcome.NotArp;
        target = arp.TargetProtocolAddress;
        if (!_ourSubnet.Contains(target))
            return ArpOutcome.NotArp;
        senderMac = arp.SenderHardwareAddress;
        senderIp = arp.SenderProtocolAddress;
        // Well formed means the ARP sender is the frame's sender, as a kernel's request always is.
        if (senderMac != src || (_senderAllowed is not null && !_senderAllowed(outerSource, senderIp)) || !TakeToken())
        {
            Refused++;
            return ArpOutcome.Refused;
        }
        return ArpOutcome.Answered;
    }

    private bool TakeToken()
    {
        long now = _time.GetTimestamp();
        _tokens = Math.Min(_burst, _tokens + (now - _last) * _perTick);
        _last = now;
        if (_tokens < 1)
            return false;
        _tokens -= 1;
        return true;
    }
}

/// <summary>What <see cref="VxlanArpResponder.TryAnswer"/> did with a datagram.</summary>
public enum ArpOutcome
{
    /// <summary>Not an ARP request for us: decapsulate it as usual.</summary>
    NotArp,
    /// <summary>Rewritten into the reply: send it back.</summary>
    Answered,
    /// <summary>An ARP request we refuse to answer (rate limit, sender not the peer's): a counted drop.</summary>
    Refused,
}
