using Dataplane.Devices;
using Dataplane.Diagnostics;

namespace Dataplane.Pipeline;

/// <summary>
/// The one error policy of every pump loop: Ok and WouldBlock go on, Closed ends the loop, an error is counted
/// (<see cref="DropReason.IoError"/>) and, once errors keep coming back to back, slept on for 1 ms more each time (at
/// most 10 ms), so a device that fails at once on every call (deleted under us: EBADFD; a socket in a bad state) never
/// spins a core. The daemon's watchdog decides what to do about a device that stays broken.
/// </summary>
/// <remarks>A mutable struct owned by one loop; not thread-safe.</remarks>
internal struct Backoff
{
    private const int FreeErrors = 4;
    private const int MaxSleepMs = 10;
    private int _consecutive;

    /// <summary>Errors in a row so far.</summary>
    public readonly int Consecutive => _consecutive;

    /// <summary>Applies the policy to one result; false when the loop must end.</summary>
    public bool Continue(IoResult result, DropCounters drops)
    {
        switch (result.Status)
        {
            case IoStatus.Ok:
            case IoStatus.WouldBlock:
                _consecutive = 0;
                return true;
            case IoStatus.Closed:
                return false;
            default:
                drops.Increment(DropReason.IoError);
                if (++_consecutive > FreeErrors)
                    Thread.Sleep(Math.Min(_consecutive - FreeErrors, MaxSleepMs));
                return true;
        }
    }
}
