namespace Dataplane.Tun;

/// <summary>Outcome of waiting for an fd to become ready (<see cref="FdCanceller.Wait"/>).</summary>
public enum WaitResult
{
    /// <summary>The fd is ready for the requested operation (or has an error pending that the next call will report).</summary>
    Ready,
    /// <summary>The canceller fired: the owner is shutting down.</summary>
    Cancelled,
    /// <summary>The timeout passed first.</summary>
    TimedOut,
}
