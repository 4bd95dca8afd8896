using Dataplane.Devices;
using Dataplane.Diagnostics;

namespace Dataplane.Pipeline;

/// <summary>
/// Both directions on one thread, flannel's proxy loop done in C#: take a batch from the TUN and a batch from each
/// socket in turn with non-blocking reads until all of them would block, then sleep in one poll(2) on all fds.
/// </summary>
/// <remarks>
/// Why: with one thread per direction, every node runs two threads that each sleep and wake per burst. On a small
/// machine (the lab's 2 vCPUs carry two nodes, the pods and the traffic generator) that costs involuntary context
/// switches and cross-CPU wakeups (~20 µs each here, performance.md §2.4). One thread that keeps draining while
/// there is work sleeps less often. The per-batch work is the same <see cref="OutboundPump.Pump"/> and
/// <see cref="InboundPump.Pump"/> as the threaded engine's, with the same error policy (<see cref="Backoff"/>, one per
/// device); only the scheduling differs.
/// </remarks>
public sealed class SingleThreadPump
{
    private readonly OutboundPump _outbound;
    private readonly IReadOnlyList<InboundPump> _inbound;
    private readonly IReadinessWaiter _waiter;
    private readonly DropCounters _drops;

    internal SingleThreadPump(OutboundPump outbound, IReadOnlyList<InboundPump> inbound, IReadinessWaiter waiter, DropCounters drops)
    {
        _outbound = outbound;
        _inbound = inbound;
        _waiter = waiter;
        _drops = drops;
    }

    /// <summary>Runs until the waiter is cancelled or a device closes. Call on a dedicated thread.</summary>
    public void Run()
    {
        var backoffs = new Backoff[1 + _inbound.Count];
        while (true)
        {
            bool activity;
            do
            {
                var read = _outbound.Pump(wait: false);
                activity = read.IsOk;
                if (!backoffs[0].Continue(read, _drops))
                    return;
                for (int i = 0; i < _inbound.Count; i++)
                {
                    var received = _inbound[i].Pump(wait: false);
                    activity |= received.IsOk;
                    if (!backoffs[i + 1].Continue(received, _drops))
                        return;
                }
            }
            while (activity);
            if (!_waiter.WaitReadable())
                return;
        }
    }
}
