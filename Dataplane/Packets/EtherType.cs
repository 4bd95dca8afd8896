namespace Dataplane.Packets;

/// <summary>Ethernet type values used here (IEEE 802.3 / IANA).</summary>
public static class EtherType
{
    /// <summary>IPv4.</summary>
    public const ushort Ipv4 = 0x0800;
    /// <summary>ARP (RFC 826).</summary>
    public const ushort Arp = 0x0806;
    /// <summary>IPv6.</summary>
    public const ushort Ipv6 = 0x86DD;
}
