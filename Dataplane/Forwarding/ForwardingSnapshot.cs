using System.Numerics;
using Dataplane.Packets;

namespace Dataplane.Forwarding;

/// <summary>
/// One immutable version of the forwarding table: per-prefix-length exact-match hashing, probed
/// longest length first over only the lengths present (see <see cref="ForwardingTable"/> for why).
/// </summary>
/// <remarks>
/// <para>Invariant: nothing reachable from a published snapshot is ever written again. Readers hold a
/// reference to one snapshot for a whole lookup and need no synchronisation beyond the
/// <see cref="Volatile"/> read that fetched it; the writer builds a new snapshot (sharing every untouched
/// shard with the old one) and publishes it with one reference store.</para>
/// <para>Layout. A route is a 64-bit <em>slot key</em> <c>network &lt;&lt; 32 | (length + 1)</c>, so 0 means
/// "empty slot" and one integer compare checks both address and length. Keys are spread over
/// 2^<see cref="_shardBits"/> shards by the top bits of a multiplicative hash; each shard is an
/// open-addressing table (linear probing, load ≤ 1/2, power-of-two size) of keys with a parallel array
/// of next hops that is read only on a hit. Sharding is what makes a batch cost O(changes): the writer
/// copies the shard index (one reference per shard) and rebuilds only the shards a batch touches.</para>
/// <para>IPv6 will add a second set of arrays here (128-bit keys, 129 lengths, same scheme) so that one
/// publish still covers both families.</para>
/// </remarks>
internal sealed class ForwardingSnapshot
{
    /// <summary>Most shards a snapshot uses (65 536).</summary>
    internal const int MaxShardBits = 16;

    /// <summary>Target mean routes per shard when the shard count is (re)chosen.</summary>
    private const int TargetPerShard = 32;

    // 2^64 / golden ratio: Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4). The top bits of the product
    // depend on every input bit, so shard and slot are taken from the top down.
    private const ulong HashMultiplier = 0x9E37_79B9_7F4A_7C15UL;

    private static readonly ulong[] EmptyShard = new ulong[2];
    private static readonly NextHop[] EmptyHops = new NextHop[2];

    /// <summary>The table with no routes.</summary>
    public static readonly ForwardingSnapshot Empty = new([EmptyShard], [EmptyHops], 0, new int[33], 0);

    private readonly ulong[][] _slots;
    private readonly NextHop[][] _hops;
    private readonly int _shardBits;
    private readonly int[] _lengthCounts;
    private readonly ulong _lengthMask;

    private ForwardingSnapshot(ulong[][] slots, NextHop[][] hops, int shardBits, int[] lengthCounts, int count)
    {
        _slots = slots;
        _hops = hops;
        _shardBits = shardBits;
        _lengthCounts = lengthCounts;
        Count = count;
        ulong mask = 0;
        for (int length = 0; length <= 32; length++)
        {
            if (lengthCounts[length] != 0)
                mask |= 1UL << length;
        }
        _lengthMask = mask;
    }

    /// <summary>Number of routes.</summary>
    public int Count { get; }

    /// <summary>Number of shards (diagnostics and tests).</summary>
    public int ShardCount => _slots.Length;

    /// <summary>Number of distinct prefix lengths present: the most probes a lookup makes.</summary>
    public int DistinctLengths => BitOperations.PopCount(_lengthMask);

    /// <summary>Longest-prefix match. Allocation-free; safe from any thread.</summary>
    public bool TryLookup(uint address, out NextHop nextHop)
    {
        ulong lengths = _lengthMask;
        while (lengths != 0)
        {
            int length = 63 - BitOperations.LeadingZeroCount(lengths);
            lengths ^= 1UL << length;
            uint network = address & MaskOf(length);
            if (TryFind(network, length, out nextHop))
                return true;
        }
        nextHop = default;
        return false;
    }

    /// <summary>Exact match on a prefix.</summary>
    public bool TryGet(Ipv4Prefix prefix, out NextHop nextHop) => TryFind(prefix.Address.Value, prefix.Length, out nextHop);

    private bool TryFind(uint network, int length, out NextHop nextHop)
    {
        ulong key = SlotKey(network, length);
        ulong hash = Hash(network, length);
        int shard = ShardOf(hash, _shardBits);
        ulong[] slots = _slots[shard];
        int mask = slots.Length - 1;
        int index = SlotOf(hash, _shardBits, slots.Length);
        // Load ≤ 1/2 guarantees an empty slot, so the probe terminates.
        while (true)
        {
            ulong slot = slots[index];
            if (slot == key)
            {
                nextHop = _hops[shard][index];
                return true;
            }
            if (slot == 0)
            {
                nextHop = default;
                return false;
            }
            index = (index + 1) & mask;
        }
    }

    /// <summary>All routes, ordered by address then length (allocates; diagnostics only).</summary>
    public List<(Ipv4Prefix Prefix, NextHop NextHop)> GetRoutes()
    {
        var routes = new List<(Ipv4Prefix, NextHop)>(Count);
        for (int shard = 0; shard < _slots.Length; shard++)
        {
            ulong[] slots = _slots[shard];
            for (int i = 0; i < slots.Length; i++)
            {
                if (slots[i] != 0)
                    routes.Add((PrefixOf(slots[i]), _hops[shard][i]));
            }
        }
        routes.Sort(static (a, b) => a.Item1.Address != b.Item1.Address
            ? a.Item1.Address.CompareTo(b.Item1.Address)
            : a.Item1.Length.CompareTo(b.Item1.Length));
        return routes;
    }

    /// <summary>
    /// Returns a new snapshot with <paramref name="updates"/> applied in order (later updates of the same
    /// prefix win). Rebuilds only the touched shards, unless the route count left the band the current
    /// shard count suits, in which case everything is rebuilt with a new shard count.
    /// </summary>
    public ForwardingSnapshot With(ReadOnlySpan<RouteUpdate> updates)
    {
        if (updates.IsEmpty)
            return this;

        // Per touched shard: its routes as a dictionary, loaded on first touch, then edited in order.
        var touched = new Dictionary<int, Dictionary<ulong, NextHop>>();
        int[] lengthCounts = (int[])_lengthCounts.Clone();
        int count = Count;
        foreach (ref readonly RouteUpdate update in updates)
        {
            uint network = update.Destination.Address.Value;
            int length = update.Destination.Length;
            int shard = ShardOf(Hash(network, length), _shardBits);
            if (!touched.TryGetValue(shard, out var routes))
            {
                routes = LoadShard(shard);
                touched.Add(shard, routes);
            }
            ulong key = SlotKey(network, length);
            if (update.Kind == RouteUpdateKind.Remove)
            {
                if (routes.Remove(key))
                {
                    lengthCounts[length]--;
                    count--;
                }
            }
            else
            {
                if (!routes.ContainsKey(key))
                {
                    lengthCounts[length]++;
                    count++;
                }
                routes[key] = update.NextHop;
            }
        }

        if (NeedsReshard(count, _shardBits))
            return Rebuild(touched, lengthCounts, count);

        var slots = (ulong[][])_slots.Clone();
        var hops = (NextHop[][])_hops.Clone();
        foreach (var (shard, routes) in touched)
            (slots[shard], hops[shard]) = BuildShard(routes, routes.Count, _shardBits);
        return new ForwardingSnapshot(slots, hops, _shardBits, lengthCounts, count);
    }

    private Dictionary<ulong, NextHop> LoadShard(int shard)
    {
        ulong[] slots = _slots[shard];
        var routes = new Dictionary<ulong, NextHop>(slots.Length / 2 + 4);
        for (int i = 0; i < slots.Length; i++)
        {
            if (slots[i] != 0)
                routes.Add(slots[i], _hops[shard][i]);
        }
        return routes;
    }

    private ForwardingSnapshot Rebuild(Dictionary<int, Dictionary<ulong, NextHop>> touched, int[] lengthCounts, int count)
    {
        int shardBits = ShardBitsFor(count);
        int shardCount = 1 << shardBits;
        var buckets = new List<KeyValuePair<ulong, NextHop>>?[shardCount];
        for (int shard = 0; shard < _slots.Length; shard++)
        {
            if (touched.TryGetValue(shard, out var routes))
            {
                foreach (var route in routes)
                    AddTo(buckets, route.Key, route.Value, shardBits);
                continue;
            }
            ulong[] slots = _slots[shard];
            for (int i = 0; i < slots.Length; i++)
            {
                if (slots[i] != 0)
                    AddTo(buckets, slots[i], _hops[shard][i], shardBits);
            }
        }
        var newSlots = new ulong[shardCount][];
        var newHops = new NextHop[shardCount][];
        for (int shard = 0; shard < shardCount; shard++)
        {
            if (buckets[shard] is { } routes)
                (newSlots[shard], newHops[shard]) = BuildShard(routes, routes.Count, shardBits);
            else
                (newSlots[shard], newHops[shard]) = (EmptyShard, EmptyHops);
        }
        return new ForwardingSnapshot(newSlots, newHops, shardBits, lengthCounts, count);

        static void AddTo(List<KeyValuePair<ulong, NextHop>>?[] buckets, ulong key, NextHop hop, int shardBits)
        {
            var prefix = PrefixOf(key);
            int shard = ShardOf(Hash(prefix.Address.Value, prefix.Length), shardBits);
            (buckets[shard] ??= []).Add(new(key, hop));
        }
    }

    private static (ulong[] Slots, NextHop[] Hops) BuildShard(IEnumerable<KeyValuePair<ulong, NextHop>> routes, int count, int shardBits)
    {
        if (count == 0)
            return (EmptyShard, EmptyHops);
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, count * 2));
        var slots = new ulong[size];
        var hops = new NextHop[size];
        foreach (var (key, hop) in routes)
        {
            var prefix = PrefixOf(key);
            ulong hash = Hash(prefix.Address.Value, prefix.Length);
            int index = SlotOf(hash, shardBits, size);
            while (slots[index] != 0)
                index = (index + 1) & (size - 1);
            slots[index] = key;
            hops[index] = hop;
        }
        return (slots, hops);
    }

    /// <summary>True when <paramref name="count"/> routes no longer suit 2^<paramref name="shardBits"/> shards.</summary>
    internal static bool NeedsReshard(int count, int shardBits) =>
        (shardBits < MaxShardBits && count > (TargetPerShard * 2) << shardBits) ||
        (shardBits > 0 && count < (TargetPerShard / 4) << shardBits);

    /// <summary>Shard count exponent for <paramref name="count"/> routes: about 32 routes per shard.</summary>
    internal static int ShardBitsFor(int count) =>
        Math.Clamp(BitOperations.Log2((uint)Math.Max(1, count / TargetPerShard)), 0, MaxShardBits);

    private static uint MaskOf(int length) => (uint)(0xFFFF_FFFF_0000_0000UL >> length);

    private static ulong SlotKey(uint network, int length) => (ulong)network << 32 | (uint)(length + 1);

    private static Ipv4Prefix PrefixOf(ulong key) => new(new Ipv4Address((uint)(key >> 32)), (int)(key & 0xFF) - 1);

    private static ulong Hash(uint network, int length) => ((ulong)length << 32 | network) * HashMultiplier;

    // Top shardBits bits; written so shardBits = 0 yields 0 without a 64-bit shift.
    private static int ShardOf(ulong hash, int shardBits) => (int)((hash >> 1) >> (63 - shardBits));

    // The bits just below the shard bits, as many as the shard has slot bits.
    private static int SlotOf(ulong hash, int shardBits, int size) =>
        (int)((hash << shardBits) >> (64 - BitOperations.Log2((uint)size)));
}
