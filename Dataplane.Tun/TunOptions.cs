using Dataplane.Devices;

namespace Dataplane.Tun;

/// <summary>How <see cref="LinuxTunDevice"/> opens or re-attaches its TUN.</summary>
public sealed record TunOptions
{
    /// <summary>
    /// Interface name, at most 15 bytes. A name with <c>%d</c> (flannel's <c>flannel%d</c>) makes the
    /// kernel pick the first free number and always creates a new device. An exact name attaches to the
    /// existing TUN of that name (it must be a persistent IFF_TUN|IFF_NO_PI device with no other reader)
    /// or creates it.
    /// </summary>
    public string Name { get; init; } = "flannel%d";

    /// <summary>
    /// Make the device persistent (TUNSETPERSIST 1) right after attaching: it, its addresses and its
    /// routes then survive this process. Used for restart safety: while the daemon is down the Network
    /// route keeps pointing into a TUN nobody reads, so the kernel drops pod traffic there instead of
    /// sending it out of the default route unencapsulated.
    /// </summary>
    public bool Persistent { get; init; }

    /// <summary>
    /// Offloads to ask for. Anything but None opens the TUN with IFF_VNET_HDR (every read and write then starts with a
    /// 10-byte virtio_net_hdr) and enables them with TUNSETOFFLOAD; the checksum offload is implied. Offloads the kernel
    /// refuses are dropped one group at a time (USO first: it needs Linux 6.2) and <see cref="LinuxTunDevice.Offloads"/>
    /// says what is in effect.
    /// </summary>
    public TunOffloads Offloads { get; init; }

    /// <summary>Packets one read call may return (non-blocking reads after the first, until EAGAIN); 1 = flannel's loop.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Largest packet a plain TUN read returns (its MTU; a larger buffer does no harm). Ignored with offloads (64 KiB).</summary>
    public int Mtu { get; init; } = 65535;

    /// <summary>Open the fd non-blocking (always true in practice; reads wait in poll so they can be cancelled).</summary>
    internal bool NonBlocking { get; init; } = true;
}
