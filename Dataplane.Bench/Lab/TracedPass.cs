namespace Control.Bench;

/// <summary>The traced pass's arithmetic, apart from the lab so it can be checked on numbers.</summary>
internal static class TracedPass
{
    /// <summary>
    /// The calls that move a data segment on the sending node: the TUN read that brings it in and the UDP send that
    /// puts it out, under every name the data path may use for them (per-packet: read + sendto; batch: read +
    /// sendmsg/sendmmsg). A read of a TSO super-packet or a sendmmsg of GSO trains covers many segments.
    /// </summary>
    public static readonly IReadOnlyList<string> SenderIoSyscalls = ["read", "sendto", "sendmsg", "sendmmsg"];

    /// <summary>
    /// TUN reads plus UDP sends of the sending daemon per data segment; null when a syscall in
    /// <see cref="SenderIoSyscalls"/> was not counted (no tracepoint for it) or no segment was sent.
    /// </summary>
    public static double? SenderIoPerSegment(SyscallTracer.Counts sender, long segmentsSent) =>
        segmentsSent > 0 && sender.Sum(SenderIoSyscalls) is { } calls ? calls / (double)segmentsSent : null;

    /// <summary>All syscalls of both daemons per inner packet carried either way (data segments plus returning ACKs).</summary>
    public static double? SyscallsPerPacket(SyscallTracer.Counts both, long segmentsSentByPod1, long segmentsSentByPod2)
    {
        long packets = segmentsSentByPod1 + segmentsSentByPod2;
        return packets > 0 && both.Total > 0 ? both.Total / (double)packets : null;
    }
}
