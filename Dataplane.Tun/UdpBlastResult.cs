namespace Dataplane.Tun;

/// <summary>What one <see cref="UdpBlaster.Run"/> did.</summary>
/// <param name="Datagrams">Datagrams the kernel accepted (sent, not necessarily delivered).</param>
/// <param name="Calls">sendmmsg(2) calls made, including ones that sent nothing.</param>
/// <param name="Errors">Calls that failed with an error other than EAGAIN/EINTR (e.g. ECONNREFUSED from an earlier ICMP port unreachable).</param>
/// <param name="Elapsed">Time from the first call to the end of the last.</param>
public readonly record struct UdpBlastResult(long Datagrams, long Calls, long Errors, TimeSpan Elapsed)
{
    /// <summary>Datagrams per second over <see cref="Elapsed"/> (0 when nothing ran).</summary>
    public double DatagramsPerSecond => Elapsed > TimeSpan.Zero ? Datagrams / Elapsed.TotalSeconds : 0;
}
