namespace Control.Daemon;

/// <summary>How the data path moves packets (<c>--io</c>). Both are one syscall per packet, like flannel's proxy.</summary>
internal enum IoMode
{
    /// <summary>
    /// <c>per-packet</c> (default, the flannel-equivalent baseline): flannel's loop: one thread drains the TUN and the
    /// socket alternately with non-blocking reads and sleeps in one poll(2) on both.
    /// </summary>
    PerPacket,

    /// <summary><c>per-packet-threads</c>: one thread per direction (TUN → socket, socket → TUN), each blocking in its own read.</summary>
    PerPacketThreads,
}
