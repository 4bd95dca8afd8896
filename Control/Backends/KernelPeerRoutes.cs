using System.Diagnostics;
using Dataplane.Packets;
using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Backends;

/// <summary>
/// The kernel routes <c>&lt;peer subnet&gt; via &lt;peer PublicIP&gt; dev &lt;external interface&gt;</c> that carry
/// pod traffic to peers without encapsulation: flanneld's host-gw backend, and its vxlan DirectRouting for on-link
/// peers. Programmed and kept as flanneld's <c>RouteNetwork</c> does (pkg/backend/route_network.go, flannel-io/flannel
/// at cdf76059): a route is remembered before it is tried (<c>addToRouteList</c>), an existing route to the same
/// destination with another gateway or device is replaced ("Replacing existing route to …"), a kernel refusal (a
/// PublicIP that is not on-link: ENETUNREACH) is logged as "Error adding route to …" and the node goes on, and every
/// remembered route that is missing is re-added later (<c>routeCheck</c>, every 10 s there).
/// </summary>
/// <remarks>
/// <para>Ours also re-checks at once on the netlink events that remove such routes: an RTM_DELROUTE of a remembered
/// destination, the external link going down or losing an address (IPv4 flushes routes through a device on NETDEV_DOWN
/// and on the removal of the address that makes the gateway reachable, without an RTM_DELROUTE, see
/// <see cref="Daemon.RouteWatchdog"/>), or a monitor overrun. A route the kernel refuses is retried on every check and
/// logged again only once it succeeds ("Route recovered", flanneld's line) or fails for a new reason.</para>
/// <para>The routes are left in place when the daemon stops, as flanneld leaves them: peers stay reachable across a
/// restart, and the next start finds them equal and keeps them.</para>
/// <para>Threading: <see cref="Set"/>/<see cref="Remove"/> run on the daemon's watch loop, the checks on the monitor
/// thread; one lock serialises both (and the netlink socket, which is not thread-safe).</para>
/// </remarks>
internal sealed class KernelPeerRoutes : IDisposable
{
    /// <summary>flanneld's <c>routeCheckRetries * time.Second</c>: the periodic check.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);

    private const int ESrch = 3;

    private readonly RtNetlink _rtnl;
    private readonly int _linkIndex;
    private readonly string _linkName;
    private readonly ILogger _logger;
    private readonly Action<string> _fatal;
    private readonly Lock _gate = new();
    private readonly Dictionary<Ipv4Prefix, Entry> _routes = [];
    private readonly NetlinkMonitor _monitor = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private volatile bool _stopping;

    private sealed class Entry(Ipv4Address gateway)
    {
        public Ipv4Address Gateway { get; } = gateway;

        /// <summary>The last refusal's message while the kernel refuses the route; null once it is in place.</summary>
        public string? Failure { get; set; }
    }

    /// <summary>Routes through <paramref name="linkIndex"/>; starts the watchdog thread.</summary>
    public KernelPeerRoutes(int linkIndex, string linkName, ILogger logger, Action<string> fatal)
    {
        _rtnl = new RtNetlink();
        _linkIndex = linkIndex;
        _linkName = linkName;
        _logger = logger;
        _fatal = fatal;
        new Thread(Run) { Name = "dp-peer-routes", IsBackground = true }.Start();
    }

    /// <summary>Routes currently remembered (in place or refused), by destination.</summary>
    public IReadOnlyDictionary<Ipv4Prefix, Ipv4Address> Snapshot()
    {
        lock (_gate)
            return _routes.ToDictionary(r => r.Key, r => r.Value.Gateway);
    }

    /// <summary>Destinations whose route the kernel currently refuses (diagnostics, tests).</summary>
    public IReadOnlyList<Ipv4Prefix> Refused()
    {
        lock (_gate)
            return [.. _routes.Where(r => r.Value.Failure is not null).Select(r => r.Key)];
    }

    /// <summary>True when a route to <paramref name="subnet"/> is remembered.</summary>
    public bool Contains(Ipv4Prefix subnet)
    {
        lock (_gate)
            return _routes.ContainsKey(subnet);
    }

    /// <summary>flanneld's <c>routeAdd</c>: remember the route, make it the kernel's route to <paramref name="subnet"/>.</summary>
    public void Set(Ipv4Prefix subnet, Ipv4Address gateway)
    {
        lock (_gate)
        {
            if (_routes.TryGetValue(subnet, out var old) && old.Gateway != gateway)
                TryDelete(subnet, old.Gateway, quiet: true);
            var entry = new Entry(gateway);
            _routes[subnet] = entry;
            Program(subnet, entry, recovering: false, _rtnl.ListRoutes());
        }
    }

    /// <summary>Forgets the route to <paramref name="subnet"/> and deletes it from the kernel (flanneld's EventRemoved).</summary>
    public void Remove(Ipv4Prefix subnet)
    {
        lock (_gate)
        {
            if (!_routes.Remove(subnet, out var entry))
                return;
            TryDelete(subnet, entry.Gateway, quiet: entry.Failure is not null);
        }
    }

    /// <summary>Re-adds every remembered route the kernel lacks (flanneld's <c>checkSubnetExistInRoutes</c>).</summary>
    public void Check()
    {
        lock (_gate)
        {
            if (_routes.Count == 0)
                return;
            var kernel = _rtnl.ListRoutes();
            foreach (var (subnet, entry) in _routes)
            {
                if (!kernel.Any(r => Equal(r, subnet, entry.Gateway)))
                    Program(subnet, entry, recovering: true, kernel);
            }
        }
    }

    /// <summary>Stops the watchdog; the routes stay in the kernel (flanneld leaves them on exit).</summary>
    public void Dispose()
    {
        _stopping = true;
        _monitor.Dispose();
        lock (_gate)
            _rtnl.Dispose();
    }

    // routeEqual: destination, gateway and device (route_network.go).
    private bool Equal(RouteInfo r, Ipv4Prefix subnet, Ipv4Address gateway) =>
        r.Destination == subnet && r.Gateway == gateway && r.LinkIndex == _linkIndex && r.Type == RouteType.Unicast;

    private RouteInfo Route(Ipv4Prefix subnet, Ipv4Address gateway) =>
        new() { Destination = subnet, Gateway = gateway, LinkIndex = _linkIndex };

    private string Text(Ipv4Prefix subnet, Ipv4Address gateway) => $"{subnet} via {gateway} dev {_linkName}";

    private void Program(Ipv4Prefix subnet, Entry entry, bool recovering, IReadOnlyList<RouteInfo> kernel)
    {
        var route = Route(subnet, entry.Gateway);
        try
        {
            var existing = kernel.FirstOrDefault(r => r.Destination == subnet && (r.Metric ?? 0) == 0);
            if (existing is not null && Equal(existing, subnet, entry.Gateway))
            {
                if (!recovering)
                    _logger.LogInformation("Route to {Route} already exists, skipping.", Text(subnet, entry.Gateway));
                entry.Failure = null;
                return;
            }
            if (existing is not null)
            {
                // Same destination, another gateway or device (a stale route of ours, or another agent's): as flanneld,
                // replace it. `ip route replace` does both in one step.
                _logger.LogWarning("Replacing existing route to {Subnet} ({Existing}) with {Route}", subnet, existing, Text(subnet, entry.Gateway));
                _rtnl.ReplaceRoute(route);
            }
            else
            {
                _rtnl.AddRoute(route);
            }
            if (recovering || entry.Failure is not null)
                _logger.LogInformation("Route recovered {Subnet} : {Gateway}", subnet, entry.Gateway);
            entry.Failure = null;
        }
        catch (PlatformException e)
        {
            // An off-link PublicIP: the kernel answers ENETUNREACH. flanneld logs and goes on; the route stays remembered
            // and is retried on every check (it works once the peer becomes reachable, e.g. an address is added).
            if (entry.Failure != e.Message)
                _logger.LogError("Error adding route to {Route}: {Error}", Text(subnet, entry.Gateway), e.Message);
            entry.Failure = e.Message;
        }
    }

    private void TryDelete(Ipv4Prefix subnet, Ipv4Address gateway, bool quiet)
    {
        try
        {
            _rtnl.DeleteRoute(Route(subnet, gateway));
        }
        catch (PlatformException e) when (e.Errno == ESrch)
        {
            // Already gone (never accepted, or removed by someone else): nothing to do.
        }
        catch (PlatformException e)
        {
            if (!quiet)
                _logger.LogError("Error deleting route to {Subnet}: {Error}", subnet, e.Message);
        }
    }

    private void Run()
    {
        var changes = new List<NetlinkChange>();
        var nextCheck = _clock.Elapsed + CheckInterval;
        try
        {
            while (!_stopping)
            {
                int timeoutMs = (int)Math.Clamp((nextCheck - _clock.Elapsed).TotalMilliseconds + 1, 0, int.MaxValue);
                if (!_monitor.Read(changes, timeoutMs))
                    return;
                bool now = false;
                foreach (var c in changes)
                    now |= Relevant(c);
                changes.Clear();
                if (_stopping)
                    return;
                if (now || _clock.Elapsed >= nextCheck)
                {
                    Check();
                    nextCheck = _clock.Elapsed + CheckInterval;
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e) when (!_stopping)
        {
            _fatal($"peer route watchdog failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private bool Relevant(NetlinkChange change)
    {
        switch (change.Kind)
        {
            case NetlinkChangeKind.RouteDeleted when change.Route is { } r:
                lock (_gate)
                    return _routes.ContainsKey(r.Destination);
            case NetlinkChangeKind.LinkChanged when change.Link?.Index == _linkIndex:
            case NetlinkChangeKind.AddressAdded when change.Address?.LinkIndex == _linkIndex:
            case NetlinkChangeKind.AddressDeleted when change.Address?.LinkIndex == _linkIndex:
            case NetlinkChangeKind.Overrun:
                return true;
            default:
                return false;
        }
    }
}
