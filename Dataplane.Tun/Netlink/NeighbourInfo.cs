using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// A neighbour (ARP) entry, or a bridge FDB entry when <see cref="IsFdb"/> (family AF_BRIDGE): for a
/// VXLAN device an FDB entry maps an inner MAC to the underlay address (NDA_DST) to send it to.
/// </summary>
/// <param name="LinkIndex">Device index.</param>
/// <param name="Address">ARP: the IP address; FDB: NDA_DST, the remote VTEP's underlay address (or null).</param>
/// <param name="Mac">NDA_LLADDR.</param>
/// <param name="State">NUD_* state bits (NUD_PERMANENT = 0x80, NUD_REACHABLE = 0x02, NUD_STALE = 0x04, NUD_NOARP = 0x40).</param>
/// <param name="Flags">NTF_* flags (NTF_SELF = 0x02).</param>
/// <param name="IsFdb">True for an AF_BRIDGE (FDB) entry.</param>
public sealed record NeighbourInfo(int LinkIndex, Ipv4Address? Address, MacAddress? Mac, ushort State, byte Flags, bool IsFdb)
{
    /// <summary>NUD_PERMANENT.</summary>
    public bool IsPermanent => (State & 0x80) != 0;
}
