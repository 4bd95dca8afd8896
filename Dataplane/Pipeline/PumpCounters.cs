namespace Dataplane.Pipeline;

/// <summary>
/// Packet and byte counters of one pump direction. Single writer (the pump thread) with plain increments;
/// readers on other threads see values at most a few packets stale, which is all status output needs.
/// </summary>
public sealed class PumpCounters
{
    private long _packets;
    private long _bytes;

    /// <summary>Packets that made it through.</summary>
    public long Packets => Volatile.Read(ref _packets);

    /// <summary>Bytes of those packets as written out (UDP payload, or inner packet towards the TUN).</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    internal void Add(int bytes) => Add(1, bytes);

    internal void Add(int packets, int bytes)
    {
        Volatile.Write(ref _packets, _packets + packets);
        Volatile.Write(ref _bytes, _bytes + bytes);
    }
}
