namespace Control.Leases;

/// <summary>Kind of change to a peer's lease.</summary>
internal enum LeaseEventKind
{
    /// <summary>A peer subnet appeared (flannel's EventAdded).</summary>
    Added,
    /// <summary>A peer subnet disappeared: deleted or expired (flannel's EventRemoved).</summary>
    Removed,
    /// <summary>A peer republished different attributes for the same subnet (flannel reports this as another EventAdded).</summary>
    Changed,
}

/// <summary>One change to a peer lease.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Lease">The lease after the change (for <see cref="LeaseEventKind.Removed"/>, the last one seen).</param>
internal sealed record LeaseEvent(LeaseEventKind Kind, Lease Lease);
