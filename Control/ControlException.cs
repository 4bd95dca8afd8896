namespace Control;

/// <summary>
/// A failure the operator must fix (bad flag, bad config, unusable store, revoked lease). Its message is
/// the one line printed on stderr; <see cref="ExitCode"/> is the process exit code.
/// </summary>
internal sealed class ControlException : Exception
{
    /// <summary>Creates a failure with one operator-facing line.</summary>
    public ControlException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null)
        : base(message, inner) => ExitCode = exitCode;

    /// <summary>Process exit code to use (<see cref="ExitCodes"/>).</summary>
    public int ExitCode { get; }

    /// <summary>A usage error: wrong or contradictory flags (exit 2, as Go's flag package).</summary>
    public static ControlException Usage(string message) => new(message, ExitCodes.Usage);

    /// <summary>
    /// Our lease was revoked (deleted, or expired in the store): flanneld logs "Lease has been revoked. Shutting down
    /// daemon." and exits cleanly (status 0), so a <c>Restart=on-failure</c> unit does not restart it; we do the same.
    /// </summary>
    public static ControlException Revoked(string message) => new(message, ExitCodes.Ok);
}
