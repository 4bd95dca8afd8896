namespace Control.Leases;

/// <summary>What happened to a renewal.</summary>
internal enum RenewOutcome
{
    /// <summary>The lease now expires at <see cref="RenewResult.Expiration"/>.</summary>
    Renewed,
    /// <summary>The lease was deleted, expired and swept, or taken over by another PublicIP: it has been revoked.</summary>
    Gone,
    /// <summary>The lease's metadata was removed: it is now a static lease and needs no renewal.</summary>
    Static,
    /// <summary>The stored value can no longer be parsed.</summary>
    Corrupt,
}

/// <summary>Outcome of <see cref="ISubnetRegistry.Renew"/>.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Expiration">The new expiry when renewed.</param>
/// <param name="Problem">Why the value is corrupt, when it is.</param>
internal readonly record struct RenewResult(RenewOutcome Outcome, DateTimeOffset? Expiration = null, string? Problem = null);
