namespace Dataplane.Diagnostics;

/// <summary>
/// One counter per <see cref="DropReason"/>. Thread-safe: pumps on different threads may share one instance.
/// Increments are interlocked, which costs a few ns and happens only on the drop path.
/// </summary>
public sealed class DropCounters
{
    private static readonly DropReason[] Reasons = Enum.GetValues<DropReason>();
    private readonly long[] _counts = new long[Reasons.Length];

    /// <summary>
    /// Dropped packets as they happen, while someone follows (<c>dataplane drops --follow</c>); the pumps record into it
    /// where they still hold the packet, after one check of <see cref="DropTrace.Active"/>.
    /// </summary>
    public DropTrace Trace { get; } = new();

    /// <summary>Counts one drop.</summary>
    public void Increment(DropReason reason) => Interlocked.Increment(ref _counts[(int)reason]);

    /// <summary>Counts <paramref name="count"/> drops for <paramref name="reason"/> (a whole message of datagrams, say).</summary>
    public void Add(DropReason reason, int count) => Interlocked.Add(ref _counts[(int)reason], count);

    /// <summary>Current count for one reason.</summary>
    public long this[DropReason reason] => Volatile.Read(ref _counts[(int)reason]);

    /// <summary>Sum over all reasons.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (int i = 1; i < _counts.Length; i++)
                total += Volatile.Read(ref _counts[i]);
            return total;
        }
    }

    /// <summary>Non-zero counters, for logs and status output (allocates; not for the packet path).</summary>
    public IReadOnlyDictionary<DropReason, long> Snapshot()
    {
        var result = new Dictionary<DropReason, long>();
        foreach (var reason in Reasons)
        {
            long value = this[reason];
            if (reason != DropReason.None && value != 0)
                result[reason] = value;
        }
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(' ', Snapshot().Select(kv => $"{kv.Key}={kv.Value}"));
}
