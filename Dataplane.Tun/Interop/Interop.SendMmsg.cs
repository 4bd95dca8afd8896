using System.Runtime.InteropServices;

namespace Dataplane.Tun.Interop;

internal static unsafe partial class Libc
{
    public const int SOL_UDP = 17;

    /// <summary>
    /// UDP_SEGMENT (linux/udp.h): UDP GSO. A send of n × gso_size bytes leaves as n datagrams of gso_size bytes
    /// (the last may be shorter), segmented by the device or just before it, so the receiver sees separate datagrams.
    /// </summary>
    public const int UDP_SEGMENT = 103;

    /// <summary>
    /// UDP_GRO (linux/udp.h, Linux 5.0): the socket may receive several same-flow datagrams coalesced into one buffer,
    /// with their size in a SOL_UDP/UDP_GRO control message (an int); the last may be shorter.
    /// </summary>
    public const int UDP_GRO = 104;

    /// <summary>
    /// Segments one UDP GSO send may carry: UDP_MAX_SEGMENTS, (1 &lt;&lt; 6) since Linux 4.18 (raised to 128 in
    /// later kernels; 64 is accepted by all of them).
    /// </summary>
    public const int UdpMaxSegments = 64;

    /// <summary>
    /// sendmmsg(2): sends up to <paramref name="count"/> messages in one call; returns how many were sent (fewer
    /// than asked when the socket's send buffer filled up mid-vector), or -1 with errno when none was. Never throws.
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMmsg(SafeHandle fd, MMsgHdr* messages, uint count, int flags);
}
