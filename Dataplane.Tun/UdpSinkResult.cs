namespace Dataplane.Tun;

/// <summary>What one <see cref="UdpSink.Drain"/> received.</summary>
/// <param name="Datagrams">Datagrams read from the socket.</param>
/// <param name="Bytes">Their payload bytes (as the kernel reported them, also for datagrams larger than a slot).</param>
/// <param name="Elapsed">Time spent draining.</param>
public readonly record struct UdpSinkResult(long Datagrams, long Bytes, TimeSpan Elapsed);
