namespace Control;

/// <summary>Process exit codes of <c>dataplane</c>.</summary>
internal static class ExitCodes
{
    /// <summary>Clean exit, including SIGTERM/SIGINT.</summary>
    public const int Ok = 0;
    /// <summary>Runtime failure: config, lease store, interface, revoked lease.</summary>
    public const int Failure = 1;
    /// <summary>Usage error: unknown, unsupported, contradictory or malformed flags (Go's flag package uses 2).</summary>
    public const int Usage = 2;
}
