using Dataplane.Forwarding;

namespace Control.Daemon;

/// <summary>
/// The seam where the packet data path plugs into <c>dataplane run</c> (flannel's <c>backend.Network</c>).
/// Lifecycle, all called from the run loop:
/// <list type="number">
/// <item><see cref="StartAsync"/> once, after the lease is held, before subnet.env is written (create the TUN,
/// sockets and workers here; throw <see cref="ControlException"/> for a setup failure);</item>
/// <item><see cref="Apply"/> for each batch of route changes, in order, from a single thread; the first batch
/// holds every peer known at startup. The span is only valid during the call;</item>
/// <item><see cref="StopAsync"/> once on shutdown (SIGTERM/SIGINT, revoked lease); it must return promptly.</item>
/// </list>
/// </summary>
internal interface IDataPath
{
    /// <summary>Human-readable name for logs ("per-packet udp").</summary>
    string Name { get; }

    /// <summary>Starts the data path.</summary>
    Task StartAsync(DataPathContext context, CancellationToken cancellationToken);

    /// <summary>Applies one batch of route updates atomically (e.g. <c>ForwardingTable.Apply</c>).</summary>
    void Apply(ReadOnlySpan<RouteUpdate> batch);

    /// <summary>Stops the data path and releases its resources.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}

/// <summary>A data path that can describe its counters in Prometheus text exposition format (for <c>/metrics</c>).</summary>
internal interface IDataPathMetrics
{
    /// <summary>Appends its metrics (HELP/TYPE lines and samples) to <paramref name="text"/>. Any thread; reads counters only.</summary>
    void WriteMetrics(System.Text.StringBuilder text);
}
