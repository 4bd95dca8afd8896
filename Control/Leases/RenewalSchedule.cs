namespace Control.Leases;

/// <summary>
/// When to renew. flanneld renews <c>--subnet-lease-renew-margin</c> minutes before expiry (CompleteLease),
/// which only makes sense while the margin is shorter than the TTL (24 h). The rule, so that a short
/// test TTL (<c>--unsafe-lease-ttl</c>) still works: renew at <c>expiration − min(margin, ttl / 2)</c>.
/// With flannel's TTL of 24 h and any legal margin (≤ 1439 min) this is exactly flannel's schedule.
/// A failed renewal is retried after <c>min(1 min, ttl / 4)</c> (flannel: every minute).
/// </summary>
internal static class RenewalSchedule
{
    /// <summary>flannel's <c>subnetTTL</c>.</summary>
    public static TimeSpan DefaultTtl { get; } = TimeSpan.FromHours(24);

    /// <summary>The moment to renew a lease expiring at <paramref name="expiration"/>.</summary>
    public static DateTimeOffset RenewAt(DateTimeOffset expiration, TimeSpan ttl, TimeSpan margin) =>
        expiration - (margin < ttl / 2 ? margin : ttl / 2);

    /// <summary>Delay before retrying a failed renewal.</summary>
    public static TimeSpan RetryDelay(TimeSpan ttl) => ttl / 4 < TimeSpan.FromMinutes(1) ? ttl / 4 : TimeSpan.FromMinutes(1);

    /// <summary>
    /// Delay before retry number <paramref name="failures"/> + 1 of a failed renewal: 1 s doubling, capped at
    /// <see cref="RetryDelay"/> (flannel retries every minute; a store that is back sooner is used sooner).
    /// </summary>
    public static TimeSpan BackOff(int failures, TimeSpan ttl)
    {
        var cap = RetryDelay(ttl);
        var delay = TimeSpan.FromSeconds(Math.Pow(2, Math.Min(failures, 16)));
        return delay < cap ? delay : cap;
    }
}
