namespace Dataplane.Devices;

/// <summary>
/// Blocks until one of a node's devices (its TUN, its sockets) has something to read. The single-threaded pump
/// (<see cref="Pipeline.SingleThreadPump"/>) waits here only when every device said "would block".
/// </summary>
public interface IReadinessWaiter
{
    /// <summary>Waits until something is readable (true) or the waiter is cancelled (false).</summary>
    bool WaitReadable();

    /// <summary>Wakes the waiter for good; <see cref="WaitReadable"/> then returns false.</summary>
    void Cancel();
}
