namespace Dataplane.Packets;

/// <summary>IANA protocol numbers used here (IPv4 Protocol / IPv6 Next Header).</summary>
public static class IpProtocol
{
    /// <summary>ICMP (RFC 792).</summary>
    public const byte Icmp = 1;
    /// <summary>TCP.</summary>
    public const byte Tcp = 6;
    /// <summary>UDP (RFC 768).</summary>
    public const byte Udp = 17;
    /// <summary>ICMPv6.</summary>
    public const byte IcmpV6 = 58;
}
