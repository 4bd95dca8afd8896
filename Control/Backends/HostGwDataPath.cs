using Control.Daemon;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Backends;

/// <summary>
/// flanneld's host-gw backend (pkg/backend/hostgw/hostgw.go with pkg/backend/route_network.go, flannel-io/flannel at
/// cdf76059): for each host-gw peer lease a kernel route <c>&lt;peer subnet&gt; via &lt;peer PublicIP&gt; dev
/// &lt;external interface&gt;</c>, nothing else. No TUN, no socket, no packet through this process: the kernel forwards
/// pod traffic as plain IP, so the peers must share a layer-2 network with us (a PublicIP that is not on-link makes the
/// kernel refuse the route; it is logged and retried, see <see cref="KernelPeerRoutes"/>).
/// </summary>
/// <remarks>
/// Leases of other backend types never reach <see cref="Apply"/> as routes (the route controller drops them with
/// flanneld's "Ignoring non-host-gw subnet" line); the refusal to start behind NAT (PublicIP ≠ interface address) and
/// the lease's <c>"BackendType":"host-gw"</c> are the daemon's (<see cref="NodeDaemon"/>). FLANNEL_MTU is the external
/// interface's MTU (<see cref="Config.BackendConfig.OverlayMtu"/>).
/// </remarks>
internal sealed class HostGwDataPath : IDataPath
{
    private KernelPeerRoutes? _routes;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private volatile bool _stopping;
    private string _name = "host-gw";

    /// <inheritdoc/>
    public string Name => _name;

    /// <summary>The routes this node keeps (tests, diagnostics); null before the start.</summary>
    public KernelPeerRoutes? Routes => _routes;

    /// <inheritdoc/>
    public Task StartAsync(DataPathContext context, CancellationToken cancellationToken)
    {
        _logger = context.Loggers.CreateLogger("dataplane.datapath");
        try
        {
            using var rtnl = new RtNetlink();
            var link = rtnl.GetLink(context.Interface.Name);
            _routes = new KernelPeerRoutes(link.Index, link.Name, _logger, Fatal);
            _name = $"host-gw (kernel routes via {link.Name}, MTU {context.OverlayMtu})";
        }
        catch (PlatformException e)
        {
            throw new ControlException(e.Message);
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<RouteUpdate> batch)
    {
        var routes = _routes ?? throw new InvalidOperationException("host-gw data path not started");
        foreach (var u in batch)
        {
            if (u.Kind == RouteUpdateKind.Upsert && u.NextHop.Encapsulation == EncapsulationKind.Routed)
            {
                _logger.LogInformation("Subnet added: {Subnet} via {PublicIP}", u.Destination, u.NextHop.Endpoint.Address);
                routes.Set(u.Destination, u.NextHop.Endpoint.Address);
            }
            else if (routes.Contains(u.Destination))
            {
                _logger.LogInformation("Subnet removed: {Subnet}", u.Destination);
                routes.Remove(u.Destination);
            }
        }
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        if (_routes is { } routes)
            _logger.LogInformation("Data path stopped: host-gw, {Count} peer routes left in place (as flanneld leaves them; no packet passed through this process), {Refused} refused by the kernel",
                routes.Snapshot().Count, routes.Refused().Count);
        _routes?.Dispose();
        _routes = null;
        return Task.CompletedTask;
    }

    private void Fatal(string message)
    {
        if (!_stopping)
            FatalExit.Exit(_logger, message);
    }
}
