namespace Control.Daemon;

/// <summary>How the data path moves packets (<c>--io</c>).</summary>
internal enum IoMode
{
    /// <summary>
    /// <c>batch</c> (default): both directions on one thread; batches of packets per call, with the offloads in
    /// effect (<see cref="OffloadOptions"/>): a TUN that hands over 64 KiB TCP/UDP super-packets, split in userspace and
    /// sent as UDP GSO trains with sendmmsg; datagrams received with recvmmsg.
    /// </summary>
    Batch,

    /// <summary><c>batch-threads</c>: as <see cref="Batch"/>, with a thread per direction.</summary>
    BatchThreads,

    /// <summary>
    /// <c>per-packet</c> (the flannel-equivalent baseline the benchmark compares against): flannel's loop: one thread
    /// drains the TUN and the socket alternately with non-blocking reads, one syscall per packet, and sleeps in one
    /// poll(2) on both. No offloads.
    /// </summary>
    PerPacket,

    /// <summary><c>per-packet-threads</c>: one syscall per packet, one thread per direction, each blocking in its own read.</summary>
    PerPacketThreads,
}

/// <summary>
/// Which offloads the batch modes use; each can be turned off on its own (<c>--tun-tso</c>, <c>--tun-uso</c>,
/// <c>--udp-gso</c>, <c>--udp-gro</c>, <c>--mmsg</c>), for the benchmark's "what each technique buys" and for operators on odd kernels.
/// </summary>
/// <param name="TunTso">TUN with IFF_VNET_HDR and TSO4/TSO6 (and the checksum offload): 64 KiB TCP reads.</param>
/// <param name="TunUso">USO4/USO6 on that TUN (Linux 6.2+): 64 KiB UDP reads.</param>
/// <param name="UdpGso">UDP_SEGMENT on the socket: a super-packet's datagrams leave in one GSO message.</param>
/// <param name="Mmsg">Batches of packets per call (sendmmsg/recvmmsg, several TUN reads per wakeup); off = one per call.</param>
/// <param name="UdpGro">UDP_GRO on the socket: a peer's GSO train arrives in one receive (needs <paramref name="Mmsg"/>).</param>
internal sealed record OffloadOptions(bool TunTso = true, bool TunUso = true, bool UdpGso = true, bool Mmsg = true, bool UdpGro = true)
{
    /// <summary>Everything on.</summary>
    public static OffloadOptions All { get; } = new();

    /// <summary>Names of what is turned off, for logs ("none" when nothing is).</summary>
    public string Disabled
    {
        get
        {
            var off = new List<string>();
            if (!TunTso) off.Add("tun-tso");
            if (!TunUso) off.Add("tun-uso");
            if (!UdpGso) off.Add("udp-gso");
            if (!Mmsg) off.Add("mmsg");
            if (!UdpGro) off.Add("udp-gro");
            return off.Count == 0 ? "none" : string.Join(',', off);
        }
    }
}
