using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;

namespace Dataplane.Pipeline;

/// <summary>
/// Both directions on one thread, flannel's proxy loop done in C#: take one packet from the TUN and one datagram from
/// each socket in turn with non-blocking reads until all of them would block, then sleep in one poll(2) on all fds.
/// </summary>
/// <remarks>
/// Why: with one thread per direction, every node runs two threads that each sleep and wake per burst. On a small
/// machine (the lab's 2 vCPUs carry two nodes, the pods and the traffic generator) that costs involuntary context
/// switches and cross-CPU wakeups (~20 µs each here, performance.md §2.4). One thread that keeps draining while
/// there is work sleeps less often. The per-packet work is the same <see cref="OutboundPump.Forward"/> and
/// <see cref="InboundPump.Deliver"/> as the threaded engine's; only the scheduling differs. Owns its two buffers.
/// </remarks>
public sealed class SingleThreadPump
{
    private readonly ITunDevice _tun;
    private readonly OutboundPump _outbound;
    private readonly IReadOnlyList<(IUnderlay Underlay, InboundPump Pump)> _inbound;
    private readonly IReadinessWaiter _waiter;
    private readonly DropCounters _drops;
    private readonly PacketBuffer _out;
    private readonly PacketBuffer _in;

    internal SingleThreadPump(ITunDevice tun, OutboundPump outbound, IReadOnlyList<(IUnderlay, InboundPump)> inbound,
        IReadinessWaiter waiter, DropCounters drops, int bufferSize = 65536)
    {
        _tun = tun;
        _outbound = outbound;
        _inbound = inbound;
        _waiter = waiter;
        _drops = drops;
        _out = new PacketBuffer(bufferSize + PacketBuffer.DefaultHeadroom);
        _in = new PacketBuffer(bufferSize + PacketBuffer.DefaultHeadroom);
    }

    /// <summary>Runs until the waiter is cancelled or a device closes. Call on a dedicated thread.</summary>
    public void Run()
    {
        while (true)
        {
            bool activity, failed = false;
            do
            {
                activity = false;
                _out.Reset();
                var read = _tun.TryRead(_out);
                if (read.Status == IoStatus.Ok)
                {
                    activity = true;
                    _outbound.Forward(_out);
                }
                else if (!Handle(read, ref failed))
                {
                    return;
                }
                foreach (var (underlay, pump) in _inbound)
                {
                    _in.Reset();
                    var received = underlay.TryReceive(_in);
                    if (received.Status == IoStatus.Ok)
                    {
                        activity = true;
                        pump.Deliver(_in);
                    }
                    else if (received.Status == IoStatus.Truncated)
                    {
                        activity = true;
                        _drops.Increment(DropReason.TooBig);
                    }
                    else if (!Handle(received, ref failed))
                    {
                        return;
                    }
                }
            }
            while (activity);
            if (failed)
                Thread.Sleep(1); // a device that keeps failing polls readable at once: do not spin a core on it
            if (!_waiter.WaitReadable())
                return;
        }
    }

    // WouldBlock and counted errors keep the loop going; Closed ends it.
    private bool Handle(IoResult result, ref bool failed)
    {
        switch (result.Status)
        {
            case IoStatus.WouldBlock:
                return true;
            case IoStatus.Closed:
                return false;
            default:
                _drops.Increment(DropReason.IoError);
                failed = true;
                return true;
        }
    }
}
