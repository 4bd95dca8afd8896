using Control.Config;
using Dataplane.Forwarding;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// Placeholder data path until the packet path lands: it moves no packets, it logs what it would program,
/// and keeps the route set so tests and operators can see the control plane work.
/// </summary>
internal sealed class LoggingDataPath : IDataPath
{
    private readonly Dictionary<Dataplane.Packets.Ipv4Prefix, NextHop> _routes = [];
    private ILogger? _logger;

    /// <inheritdoc/>
    public string Name => "control-only (no packet path yet)";

    /// <summary>Current routes, by destination.</summary>
    public IReadOnlyDictionary<Dataplane.Packets.Ipv4Prefix, NextHop> Routes => _routes;

    /// <inheritdoc/>
    public Task StartAsync(DataPathContext context, CancellationToken cancellationToken)
    {
        _logger = context.Loggers.CreateLogger("dataplane.datapath");
        _logger.LogInformation("Data path {Name} started: iface {Iface} ({IfaceAddr}), subnet {Subnet}, MTU {Mtu}",
            Name, context.Interface.Name, context.Interface.IfaceAddr, context.Lease.Subnet, context.OverlayMtu);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<RouteUpdate> batch)
    {
        foreach (var u in batch)
        {
            if (u.Kind == RouteUpdateKind.Upsert)
                _routes[u.Destination] = u.NextHop;
            else
                _routes.Remove(u.Destination);
            _logger?.LogInformation("route {Kind} {Destination} via {Endpoint} ({Encapsulation})",
                u.Kind == RouteUpdateKind.Upsert ? "add" : "del", u.Destination, u.NextHop.Endpoint, u.NextHop.Encapsulation);
        }
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _logger?.LogInformation("Data path stopped");
        return Task.CompletedTask;
    }

    /// <summary>Factory handing out <see cref="LoggingDataPath"/> for every backend.</summary>
    internal sealed class Factory : IDataPathFactory
    {
        /// <inheritdoc/>
        public IDataPath Create(BackendConfig backend, RunOptions options) => new LoggingDataPath();
    }
}
