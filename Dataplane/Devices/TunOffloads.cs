namespace Dataplane.Devices;

/// <summary>
/// Offloads a TUN may use (TUNSETOFFLOAD's TUN_F_* bits, include/uapi/linux/if_tun.h): which unfinished packets the
/// kernel may hand the reader. None means a plain TUN: one finished packet per read.
/// </summary>
[Flags]
public enum TunOffloads
{
    /// <summary>A plain TUN (no IFF_VNET_HDR).</summary>
    None = 0,
    /// <summary>TUN_F_CSUM: packets may carry a partial L4 checksum (required by every other offload).</summary>
    Checksum = 0x01,
    /// <summary>TUN_F_TSO4: TCP/IPv4 super-packets.</summary>
    Tso4 = 0x02,
    /// <summary>TUN_F_TSO6: TCP/IPv6 super-packets.</summary>
    Tso6 = 0x04,
    /// <summary>TUN_F_USO4: UDP/IPv4 super-packets (Linux 6.2+).</summary>
    Uso4 = 0x20,
    /// <summary>TUN_F_USO6: UDP/IPv6 super-packets (Linux 6.2+).</summary>
    Uso6 = 0x40,
}
