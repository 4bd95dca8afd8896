using Dataplane.Packets;

namespace Control.Daemon;

/// <summary>Validated options of <c>dataplane run</c> (and of the hidden one-shot <c>acquire</c>).</summary>
internal sealed record RunOptions
{
    /// <summary>--iface values (names or IPs), in order.</summary>
    public IReadOnlyList<string> Ifaces { get; init; } = [];

    /// <summary>--iface-regex values, in order.</summary>
    public IReadOnlyList<string> IfaceRegexes { get; init; } = [];

    /// <summary>--public-ip.</summary>
    public Ipv4Address? PublicIp { get; init; }

    /// <summary>--subnet-file.</summary>
    public string SubnetFile { get; init; } = SubnetEnv.SubnetEnvFile.DefaultPath;

    /// <summary>--net-config-path, when given.</summary>
    public string? NetConfigPath { get; init; }

    /// <summary>--ip-masq (written to FLANNEL_IPMASQ).</summary>
    public bool IpMasq { get; init; }

    /// <summary>False with --no-guard-route: no unreachable guard route for Network.</summary>
    public bool GuardRoute { get; init; } = true;

    /// <summary>--accept-unknown-peers: do not drop datagrams from addresses holding no lease.</summary>
    public bool AcceptUnknownPeers { get; init; }

    /// <summary>--iptables-forward-rules (default true): install FLANNEL-FWD.</summary>
    public bool ForwardRules { get; init; } = true;

    /// <summary>--iptables-resync: how often our iptables rules are checked and rebuilt if missing (flanneld: 5 s).</summary>
    public TimeSpan IptablesResync { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>False with --ip-masq-fully-random-disable: MASQUERADE without --random-fully.</summary>
    public bool IpMasqRandomFully { get; init; } = true;

    /// <summary>--unsafe-control-only: no packet data path (tests).</summary>
    public bool ControlOnly { get; init; }

    /// <summary>--subnet-lease-renew-margin.</summary>
    public TimeSpan RenewMargin { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary>--etcd-endpoints, --etcd-prefix and the etcd TLS/auth flags (used when <see cref="LeaseDir"/> is null).</summary>
    public Leases.EtcdOptions Etcd { get; init; } = new([Commands.RunFlags.DefaultEtcdEndpoints], Commands.RunFlags.DefaultEtcdPrefix);

    /// <summary>--lease-dir: the embedded store; null means etcd.</summary>
    public string? LeaseDir { get; init; }

    /// <summary>--healthz-ip (flanneld's default 0.0.0.0).</summary>
    public string HealthzIp { get; init; } = "0.0.0.0";

    /// <summary>--healthz-port; 0 (flanneld's default) turns the health server off.</summary>
    public int HealthzPort { get; init; }

    /// <summary>
    /// --control-socket: null = the default path (<see cref="Observe.ControlServer.DefaultPath"/>), "none" = off.
    /// </summary>
    public string? ControlSocket { get; init; }

    /// <summary>--io.</summary>
    public IoMode Io { get; init; } = IoMode.Batch;

    /// <summary>--tun-tso, --tun-uso, --udp-gso, --mmsg (batch modes only).</summary>
    public OffloadOptions Offloads { get; init; } = OffloadOptions.All;

    /// <summary>Lease TTL: flannel's 24 h unless --unsafe-lease-ttl (tests) overrides it.</summary>
    public TimeSpan LeaseTtl { get; init; } = Leases.RenewalSchedule.DefaultTtl;

    /// <summary>-v level.</summary>
    public int Verbosity { get; init; }

    /// <summary>--log-format: klog lines (default) or JSON.</summary>
    public Commands.LogFormat LogFormat { get; init; }
}
