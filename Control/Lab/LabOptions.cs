namespace Control.Lab;

/// <summary>What <c>dataplane lab up</c> builds.</summary>
internal sealed record LabOptions
{
    /// <summary>Number of nodes (each with one pod), 1..200.</summary>
    public int Nodes { get; init; } = 2;

    /// <summary>Backend type written to the lease store's config: "udp", "vxlan" or "host-gw".</summary>
    public string Backend { get; init; } = "udp";

    /// <summary>
    /// The lease store: "dir" (the embedded store in the state directory, the default) or "etcd" (a single etcd
    /// member started in the underlay namespace, reached by every node over the underlay, as flanneld nodes reach
    /// their etcd).
    /// </summary>
    public string Store { get; init; } = "dir";

    /// <summary>
    /// With <see cref="Store"/> "etcd": the daemons' --etcd-endpoints when the caller runs etcd itself (the outage
    /// tests' three-member cluster); the lab then starts no etcd and the caller writes the config. Null: the lab's own.
    /// </summary>
    public string? EtcdEndpoints { get; init; }

    /// <summary>Pass --ip-masq to the daemons.</summary>
    public bool IpMasq { get; init; }

    /// <summary>Extra arguments for every daemon (e.g. "--io", "per-packet-threads").</summary>
    public IReadOnlyList<string> DaemonArgs { get; init; } = [];

    /// <summary>How to start the dataplane executable (default: this same executable; tests pass "dotnet …/Dataplane.Control.dll").</summary>
    public IReadOnlyList<string>? DataplaneCommand { get; init; }

    /// <summary>Start daemons (false: build namespaces and pods only, e.g. for the plain-routing benchmark).</summary>
    public bool StartDaemons { get; init; } = true;
}
