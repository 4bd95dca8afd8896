using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// Keeps the overlay device's Network route in place: a netlink monitor thread restores the route if someone deletes
/// or replaces it, and reports a fatal condition (the TUN itself deleted, or a route it cannot restore) so the daemon
/// exits loudly and a supervisor restarts it; the guard route covers the gap.
/// </summary>
/// <remarks>Threading: one background thread reads the monitor; <see cref="Dispose"/> ends it. Reactions are ignored once
/// <see cref="Stop"/> was called (a clean shutdown deletes the TUN on purpose).</remarks>
internal sealed class RouteWatchdog : IDisposable
{
    private readonly OverlayDevice _device;
    private readonly bool _guardRoute;
    private readonly Action<string> _fatal;
    private readonly ILogger _logger;
    private readonly NetlinkMonitor _monitor = new();
    private volatile bool _stopping;

    /// <summary>Starts watching <paramref name="device"/>; <paramref name="fatal"/> is called (on the watchdog thread) when the daemon must exit.</summary>
    public RouteWatchdog(OverlayDevice device, bool guardRoute, Action<string> fatal, ILogger logger)
    {
        _device = device;
        _guardRoute = guardRoute;
        _fatal = fatal;
        _logger = logger;
        var monitor = _monitor;
        new Thread(() =>
        {
            var changes = new List<NetlinkChange>();
            try
            {
                while (monitor.Read(changes))
                {
                    foreach (var c in changes)
                        React(c);
                    changes.Clear();
                }
            }
            catch (ObjectDisposedException)
            {
            }
        })
        { Name = "dp-watchdog", IsBackground = true }.Start();
    }

    /// <summary>From now on, changes are expected (shutdown): ignore them.</summary>
    public void Stop() => _stopping = true;

    /// <summary>Stops the monitor thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        _monitor.Dispose();
    }

    private void React(NetlinkChange change)
    {
        if (_stopping)
            return;
        int tunIndex = _device.LinkIndex;
        var route = _device.NetworkRoute;
        if (change.Kind == NetlinkChangeKind.LinkDeleted && change.Link?.Index == tunIndex)
        {
            _fatal($"TUN {_device.Tun.Name} was deleted under the running daemon; exiting so the supervisor restarts it" +
                (_guardRoute ? " (the guard route keeps pod traffic from leaking meanwhile)" : ""));
        }
        else if ((change.Kind == NetlinkChangeKind.RouteDeleted && change.Route is { } r && r.Destination == route.Destination && r.LinkIndex == tunIndex)
                 // `ip route replace Network dev X` takes our route over with an RTM_NEWROUTE and no RTM_DELROUTE.
                 || (change.Kind == NetlinkChangeKind.RouteAdded && change.Route is { } added && added.Destination == route.Destination
                     && added.Type == RouteType.Unicast && added.LinkIndex != tunIndex && (added.Metric ?? 0) == (route.Metric ?? 0))
                 || change.Kind == NetlinkChangeKind.Overrun)
        {
            try
            {
                var rtnl = _device.Rtnl;
                if (!rtnl.ListRoutes().Any(x => x.Destination == route.Destination && x.LinkIndex == tunIndex))
                {
                    rtnl.ReplaceRoute(route);
                    _logger.LogWarning("Route {Network} dev {Tun} was deleted or replaced; restored it", route.Destination, _device.Tun.Name);
                }
            }
            catch (PlatformException e)
            {
                _fatal($"cannot restore route {route.Destination} dev {_device.Tun.Name}: {e.Message}");
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
