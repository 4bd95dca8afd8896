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

    /// <summary>Open the fd non-blocking (always true in practice; reads wait in poll so they can be cancelled).</summary>
    internal bool NonBlocking { get; init; } = true;
}
