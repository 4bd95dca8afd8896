using System.Diagnostics;
using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// Keeps the overlay device's kernel state in place: link up, its <c>.0/32</c> address, the Network route and the guard
/// route. A netlink monitor thread repairs whatever someone else undid, and reports a fatal condition (the TUN itself
/// deleted, state it cannot restore, or a bug in this thread) so the daemon exits loudly and a supervisor restarts it;
/// the guard route covers the gap.
/// </summary>
/// <remarks>
/// <para>Why links and addresses are watched, not only routes: IPv4 sends no RTM_DELROUTE for the routes it flushes
/// with a device (fib_disable_ip on NETDEV_DOWN, and on the removal of a device's last IPv4 address). Checked with
/// <c>ip monitor route link address</c>: <c>ip link set flannel0 down</c> shows only an RTM_NEWLINK without IFF_UP,
/// <c>ip addr del</c> an RTM_DELADDR and the deletion of the local-table host route, and in both cases the Network
/// route is gone without a word. So an RTM_NEWLINK for our index without IFF_UP, or an RTM_DELADDR of our address,
/// triggers a full check (<see cref="Repair"/>) at once.</para>
/// <para>Another agent insisting on the Network route (re-replacing it with its own device, or deleting it, in a loop)
/// must not turn into a tight fight: restores after such contention are spaced out by an exponential back-off
/// (<see cref="FirstBackoff"/> doubling to <see cref="MaxBackoff"/>, reset after <see cref="QuietPeriod"/> without
/// contention), with one warning naming the other device and then a summary at most every
/// <see cref="ReportInterval"/>. Kernel flushes (link down, address removed) are repaired at once: nobody fights there.</para>
/// <para>Threading: one background thread reads the monitor and does every repair; <see cref="Dispose"/> ends it.
/// Reactions are ignored once <see cref="Stop"/> was called (a clean shutdown deletes the TUN on purpose).</para>
/// </remarks>
internal sealed class RouteWatchdog : IDisposable
{
    /// <summary>Delay before the second restore of a contended Network route (the first is immediate).</summary>
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);

    /// <summary>Cap of the contention back-off.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>Without contention for this long, the back-off starts over.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(60);

    /// <summary>While contention goes on, at most one summary warning per interval.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(10);

    /// <summary>ENODEV (include/uapi/asm-generic/errno-base.h): the device is gone.</summary>
    private const int ENoDev = 19;

    private readonly OverlayDevice _device;
    private readonly bool _guardRoute;
    private readonly Action<string> _fatal;
    private readonly ILogger _logger;
    private readonly NetlinkMonitor _monitor = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private volatile bool _stopping;

    // Watchdog thread only.
    private TimeSpan? _repairDue;
    private TimeSpan _backoff = TimeSpan.Zero;
    private TimeSpan _lastContendedRepair = TimeSpan.MinValue;
    private bool _contentionPending;
    private TimeSpan _lastContention = TimeSpan.MinValue;
    private TimeSpan _lastReport = TimeSpan.MinValue;
    private long _contentions;
    private long _contentionsReported;
    private bool _contended;

    /// <summary>Starts watching <paramref name="device"/>; <paramref name="fatal"/> is called (on the watchdog thread) when the daemon must exit.</summary>
    public RouteWatchdog(OverlayDevice device, bool guardRoute, Action<string> fatal, ILogger logger)
    {
        _device = device;
        _guardRoute = guardRoute;
        _fatal = fatal;
        _logger = logger;
        new Thread(Run) { Name = "dp-watchdog", IsBackground = true }.Start();
    }

    /// <summary>Network-route restores done after contention (diagnostics).</summary>
    public long Contentions => Interlocked.Read(ref _contentions);

    /// <summary>From now on, changes are expected (shutdown): ignore them.</summary>
    public void Stop() => _stopping = true;

    /// <summary>Stops the monitor thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        _monitor.Dispose();
    }

    private void Run()
    {
        var changes = new List<NetlinkChange>();
        try
        {
            while (true)
            {
                int timeoutMs = _repairDue is { } due ? (int)Math.Clamp((due - _clock.Elapsed).TotalMilliseconds + 1, 0, int.MaxValue) : -1;
                if (!_monitor.Read(changes, timeoutMs))
                    return;
                foreach (var c in changes)
                    React(c);
                changes.Clear();
                if (_repairDue is { } d && _clock.Elapsed >= d && !_stopping)
                {
                    _repairDue = null;
                    if (_contentionPending)
                    {
                        // The back-off grows per restore, not per event: a loop of 100 replaces a second costs us one
                        // restore per back-off step, and the route comes back at most one step after the loop ends.
                        _contentionPending = false;
                        _lastContendedRepair = _clock.Elapsed;
                        _backoff = _backoff == TimeSpan.Zero ? FirstBackoff : TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
                    }
                    Repair();
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e) when (!_stopping)
        {
            // A bug here would otherwise end the thread silently and leave the node unguarded against the faults above:
            // exit instead (one line), the supervisor restarts us and the guard route covers the gap.
            _fatal($"route watchdog failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private void React(NetlinkChange change)
    {
        if (_stopping)
            return;
        int tunIndex = _device.LinkIndex;
        var route = _device.NetworkRoute;
        switch (change.Kind)
        {
            case NetlinkChangeKind.LinkDeleted when change.Link?.Index == tunIndex:
                Deleted();
                break;
            case NetlinkChangeKind.LinkChanged when change.Link is { IsUp: false } link && link.Index == tunIndex:
            case NetlinkChangeKind.AddressDeleted when change.Address is { } a && a.LinkIndex == tunIndex && a.Address == _device.Address:
            case NetlinkChangeKind.Overrun:
                RepairNow();
                break;
            case NetlinkChangeKind.RouteDeleted when change.Route is { } r && r.Destination == route.Destination
                                                     && r.Type == RouteType.Unreachable && (r.Metric ?? 0) == OverlayDevice.GuardMetric:
                if (_guardRoute)
                    RepairNow();
                break;
            case NetlinkChangeKind.RouteDeleted when change.Route is { } r && r.Destination == route.Destination && r.LinkIndex == tunIndex:
                Contended(null);
                break;
            // `ip route replace Network dev X` takes our route over with an RTM_NEWROUTE and no RTM_DELROUTE.
            case NetlinkChangeKind.RouteAdded when change.Route is { } added && added.Destination == route.Destination
                                                   && added.Type == RouteType.Unicast && added.LinkIndex != tunIndex
                                                   && (added.Metric ?? 0) == (route.Metric ?? 0) && added.Table == route.Table:
                Contended(added.LinkIndex);
                break;
        }
    }

    private void Deleted() =>
        _fatal($"TUN {_device.Tun.Name} was deleted under the running daemon; exiting so the supervisor restarts it" +
            (_guardRoute ? " (the guard route keeps pod traffic from leaking meanwhile)" : ""));

    private void RepairNow() => _repairDue = _clock.Elapsed;

    /// <summary>
    /// Someone deleted our Network route or took it over with another device (<paramref name="otherIndex"/>). The first
    /// restore is immediate; while it keeps happening, each restore waits twice as long as the previous one (capped).
    /// </summary>
    private void Contended(int? otherIndex)
    {
        var now = _clock.Elapsed;
        if (_lastContention != TimeSpan.MinValue && now - _lastContention > QuietPeriod)
        {
            _backoff = TimeSpan.Zero;
            _lastContendedRepair = TimeSpan.MinValue;
            _contended = false;
        }
        _lastContention = now;
        Interlocked.Increment(ref _contentions);
        string other = otherIndex is { } i ? $"dev {OtherName(i)}" : "a deletion";
        if (!_contended)
        {
            _contended = true;
            _lastReport = now;
            _contentionsReported = Contentions;
            _logger.LogWarning("Route {Network} dev {Tun} was {What}; restoring it. If another agent keeps doing this, restores back off " +
                "(up to {Max} s apart) instead of fighting it: fix the other agent.",
                _device.NetworkRoute.Destination, _device.Tun.Name, otherIndex is null ? "deleted" : $"taken over by {other}", (int)MaxBackoff.TotalSeconds);
        }
        else if (now - _lastReport >= ReportInterval)
        {
            _logger.LogWarning("Route {Network} dev {Tun} is contested: {Count} more takeovers/deletions in the last {Seconds} s (latest by {Other}); restoring every {Backoff} ms at most",
                _device.NetworkRoute.Destination, _device.Tun.Name, Contentions - _contentionsReported, (int)(now - _lastReport).TotalSeconds, other,
                (int)Math.Max(_backoff.TotalMilliseconds, FirstBackoff.TotalMilliseconds));
            _lastReport = now;
            _contentionsReported = Contentions;
        }
        // The restore comes `_backoff` after the previous contended one (at once for the first); an already earlier
        // scheduled repair (a kernel flush) stands.
        var due = _lastContendedRepair == TimeSpan.MinValue ? now : TimeSpan.FromTicks(Math.Max(now.Ticks, (_lastContendedRepair + _backoff).Ticks));
        _contentionPending = true;
        if (_repairDue is not { } existing || due < existing)
            _repairDue = due;
    }

    private string OtherName(int index)
    {
        try
        {
            return _device.Rtnl.TryGetLink(index)?.Name ?? $"#{index}";
        }
        catch (PlatformException)
        {
            return $"#{index}";
        }
    }

    /// <summary>
    /// Checks the whole device state and puts back what is missing, in the order the kernel needs it (a route through a
    /// down device is refused, and removing the last address flushed the routes). Idempotent: a repair with nothing to do
    /// logs nothing.
    /// </summary>
    private void Repair()
    {
        var rtnl = _device.Rtnl;
        var route = _device.NetworkRoute;
        var restored = new List<string>();
        try
        {
            var link = rtnl.TryGetLink(_device.LinkIndex);
            if (link is null)
            {
                Deleted();
                return;
            }
            if (!link.IsUp)
            {
                rtnl.SetLinkUp(_device.LinkIndex);
                restored.Add("link up");
            }
            if (!rtnl.ListAddresses(_device.LinkIndex).Any(a => a.Address == _device.Address))
            {
                rtnl.AddAddress(_device.LinkIndex, _device.Address, 32);
                restored.Add($"address {_device.Address}/32");
            }
            var routes = rtnl.ListRoutes();
            if (!routes.Any(x => x.Destination == route.Destination && x.LinkIndex == _device.LinkIndex && x.Type == RouteType.Unicast))
            {
                rtnl.ReplaceRoute(route);
                restored.Add($"route {route.Destination} dev {_device.Tun.Name}");
            }
            if (_device.GuardRoute is { } guard
                && !routes.Any(x => x.Destination == guard.Destination && x.Type == RouteType.Unreachable && x.Metric == guard.Metric))
            {
                rtnl.ReplaceRoute(guard);
                restored.Add($"guard route unreachable {guard.Destination} metric {guard.Metric}");
            }
        }
        catch (PlatformException e) when (e.Errno == ENoDev || _device.Rtnl.TryGetLink(_device.LinkIndex) is null)
        {
            // Deleting a link first takes it down (an RTM_NEWLINK without IFF_UP, then RTM_DELLINK): a repair started on
            // the first notification finds the device going away under it. That is a deletion, reported as one.
            Deleted();
            return;
        }
        catch (PlatformException e)
        {
            _fatal($"cannot restore {_device.Tun.Name}'s state ({(restored.Count == 0 ? "nothing restored yet" : "restored " + string.Join(", ", restored))}): {e.Message}");
            return;
        }
        if (restored.Count > 0)
            _logger.LogWarning("{Tun} was changed under the running daemon; restored: {Restored}", _device.Tun.Name, string.Join(", ", restored));
    }
}
