using Dataplane.Packets;

namespace Dataplane.Encapsulation;

/// <summary>
/// Builds the ICMP Destination Unreachable / Net Unreachable (type 3, code 0) that answers a packet for an
/// address inside the overlay Network that no lease covers, and the Fragmentation Needed (type 3, code 4) that answers
/// a DF packet too big for its peer's encapsulation.
/// </summary>
/// <remarks>
/// <para>flannel's proxy (<c>send_net_unreachable</c>, proxy_amd64.c) sends one with TTL 8, source = the flannel0
/// address, and stays silent for every ICMP offender. We follow RFC 1122 §3.2.2 and RFC 1812 §4.3.2.7 instead:
/// no ICMP error about an ICMP <em>error</em>, about a non-first fragment, or about a packet whose source is not
/// a unicast host (0.0.0.0, loopback, multicast, broadcast, class E); but an ICMP <em>echo request</em> to a
/// missing subnet does get one, so <c>ping</c> reports "Destination Net Unreachable" instead of timing out.</para>
/// <para>The message carries the offender's IP header plus its first 8 payload bytes (RFC 792), enough for the
/// sender's stack to match it to a socket (a UDP socket with IP_RECVERR then sees ENETUNREACH).</para>
/// <para>The caller chooses the source address. flannel's (the TUN's own /32) is a local address of the node, so
/// when written into the TUN the kernel drops it as a martian and pods never see it; the caller should use an
/// address that is not local to the node (the daemon uses the unreachable destination itself).</para>
/// </remarks>
public static class IcmpErrors
{
    /// <summary>Largest message built: 20 (IP) + 8 (ICMP) + 60 (offender header with options) + 8.</summary>
    public const int MaxLength = Ipv4Header.MinimumLength + IcmpV4Header.Length + Ipv4Header.MaximumLength + 8;

    /// <summary>TTL of the generated packet (the kernel's default; flannel uses 8).</summary>
    public const byte TimeToLive = 64;

    /// <summary>
    /// True when RFC 1122 allows an ICMP error about <paramref name="offender"/> (which must be a valid IPv4
    /// packet view).
    /// </summary>
    public static bool MayReplyTo(Ipv4Header offender)
    {
        if (offender.FragmentOffset != 0)
            return false;
        uint src = offender.SourceAddress.Value;
        uint dst = offender.DestinationAddress.Value;
        if (src == 0 || src >> 24 == 127 || src >= 0xE000_0000u || dst >= 0xE000_0000u)
            return false; // not a unicast host source; multicast/broadcast/class-E destination
        if (offender.Protocol == IpProtocol.Icmp)
        {
            var payload = offender.Payload;
            // An ICMP message whose type we cannot read, or an ICMP error, never gets an error back.
            if (payload.IsEmpty || IcmpV4Header.IsErrorType(payload[0]))
                return false;
        }
        return true;
    }

    /// <summary>
    /// Writes a complete IPv4 + ICMP net-unreachable packet into <paramref name="destination"/> (at least
    /// <see cref="MaxLength"/> bytes). Returns false, writing nothing, when no error may be sent or the offender is
    /// malformed.
    /// </summary>
    public static bool TryBuildNetUnreachable(Span<byte> offender, Ipv4Address source, Span<byte> destination, out int length) =>
        TryBuild(offender, source, IcmpV4Header.CodeNetUnreachable, 0, destination, out length);

    /// <summary>
    /// Writes an ICMP Destination Unreachable / Fragmentation Needed and DF Set (type 3, code 4) carrying
    /// <paramref name="nextHopMtu"/> (RFC 1191 §4: the low 16 bits of the rest of the header) for an offender with DF set
    /// that does not fit the path to its peer: path MTU discovery, so the sender shrinks its packets instead of losing
    /// them. Returns false, writing nothing, when DF is clear (the caller drops such a packet, counted), no error may be
    /// sent or the offender is malformed.
    /// </summary>
    public static bool TryBuildFragmentationNeeded(Span<byte> offender, Ipv4Address source, int nextHopMtu, Span<byte> destination, out int length)
    {
        length = 0;
        if (!Ipv4Header.TryCreate(offender, out var off, out _) || !off.DontFragment)
            return false;
        return TryBuild(offender, source, IcmpV4Header.CodeFragmentationNeeded, (uint)Math.Clamp(nextHopMtu, 68, ushort.MaxValue), destination, out length);
    }

    private static bool TryBuild(Span<byte> offender, Ipv4Address source, byte code, uint restOfHeader, Span<byte> destination, out int length)
    {
        length = 0;
        if (!Ipv4Header.TryCreate(offender, out var off, out _) || !MayReplyTo(off))
            return false;
        int quoted = Math.Min(off.TotalLength, off.HeaderLength + 8);
        int icmpLength = IcmpV4Header.Length + quoted;
        int total = Ipv4Header.MinimumLength + icmpLength;
        if (destination.Length < total)
            return false;

        // RFC 1812 §4.3.2.5: ICMP errors use precedence 6 (internetwork control) as the kernel's icmp_send does.
        Ipv4Header.Write(destination, new Ipv4HeaderFields(
            TypeOfService: 0xC0,
            TotalLength: (ushort)total,
            Identification: 0,
            DontFragment: false,
            TimeToLive: TimeToLive,
            Protocol: IpProtocol.Icmp,
            SourceAddress: source,
            DestinationAddress: off.SourceAddress));
        var icmpBytes = destination.Slice(Ipv4Header.MinimumLength, icmpLength);
        var icmp = new IcmpV4Header(icmpBytes)
        {
            Type = IcmpV4Header.TypeDestinationUnreachable,
            Code = code,
            Checksum = 0,
            RestOfHeader = restOfHeader,
        };
        offender[..quoted].CopyTo(icmp.Data);
        icmp.Checksum = Checksum.Compute(icmpBytes);
        length = total;
        return true;
    }
}
