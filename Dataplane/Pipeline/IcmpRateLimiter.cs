using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// Rate limit for the ICMP errors we generate, shaped like the kernel's: a global token bucket
/// (<c>net.ipv4.icmp_msgs_per_sec</c> = 1000, <c>icmp_msgs_burst</c> = 50, icmp_global_allow) and a per-destination
/// bucket (<c>net.ipv4.icmp_ratelimit</c> = 1000 ms per message with a burst of 6, XRLIM_BURST_FACTOR in
/// inet_peer_xrlim_allow). Destination Unreachable is in the default <c>icmp_ratemask</c>, so the kernel limits it.
/// </summary>
/// <remarks>
/// Not thread-safe: owned by the one outbound pump thread that generates the errors. The per-destination state is a
/// fixed direct-mapped table (a collision just shares a bucket), so it never allocates.
/// </remarks>
public sealed class IcmpRateLimiter
{
    private const int TableSize = 256;
    private const int BurstFactor = 6;
    private readonly TimeProvider _time;
    private readonly long _perDestinationInterval;
    private readonly double _globalPerTick;
    private readonly double _globalBurst;
    private readonly uint[] _keys = new uint[TableSize];
    private readonly long[] _tokens = new long[TableSize];
    private readonly long[] _last = new long[TableSize];
    private double _globalTokens;
    private long _globalLast;

    /// <summary>Creates a limiter with the kernel's defaults unless told otherwise.</summary>
    public IcmpRateLimiter(TimeProvider? time = null, int messagesPerSecond = 1000, int burst = 50, TimeSpan? perDestinationInterval = null)
    {
        _time = time ?? TimeProvider.System;
        long frequency = _time.TimestampFrequency;
        _perDestinationInterval = (long)((perDestinationInterval ?? TimeSpan.FromSeconds(1)).TotalSeconds * frequency);
        _globalPerTick = (double)messagesPerSecond / frequency;
        _globalBurst = burst;
        _globalTokens = burst;
        _globalLast = _time.GetTimestamp();
    }

    /// <summary>Messages refused so far.</summary>
    public long Suppressed { get; private set; }

    /// <summary>True when an error to <paramref name="destination"/> may be sent now (and consumes a token).</summary>
    public bool TryAcquire(Ipv4Address destination)
    {
        long now = _time.GetTimestamp();
        _globalTokens = Math.Min(_globalBurst, _globalTokens + (now - _globalLast) * _globalPerTick);
        _globalLast = now;
        if (_globalTokens < 1)
        {
            Suppressed++;
            return false;
        }

        int slot = (int)((destination.Value * 2654435761u) >> 24);
        long max = BurstFactor * _perDestinationInterval;
        long token;
        if (_keys[slot] != destination.Value || _last[slot] == 0)
        {
            _keys[slot] = destination.Value;
            token = max; // a destination not seen recently starts with a full burst, as a fresh inet_peer does
        }
        else
        {
            token = Math.Min(max, _tokens[slot] + (now - _last[slot]));
        }
        _last[slot] = now;
        if (token < _perDestinationInterval)
        {
            _tokens[slot] = token;
            Suppressed++;
            return false;
        }
        _tokens[slot] = token - _perDestinationInterval;
        _globalTokens -= 1;
        return true;
    }
}
