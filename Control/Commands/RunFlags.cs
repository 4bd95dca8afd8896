namespace Control.Commands;

/// <summary>The flags of <c>dataplane run</c>: flanneld's names and defaults (main.go), plus ours.</summary>
internal static class RunFlags
{
    /// <summary>flanneld's default --etcd-endpoints.</summary>
    public const string DefaultEtcdEndpoints = "http://127.0.0.1:4001,http://127.0.0.1:2379";

    /// <summary>flanneld's default --etcd-prefix.</summary>
    public const string DefaultEtcdPrefix = "/coreos.com/network";

    /// <summary>Accepted flags.</summary>
    public static IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("iface", FlagKind.Repeated, "interface to use (IP or name) for inter-host communication; repeatable, the first that resolves wins", "IFACE"),
        new("iface-regex", FlagKind.Repeated, "regex matching the first interface (by IP, then by name) to use; repeatable", "REGEX"),
        new("public-ip", FlagKind.Value, "IP accessible by other nodes for inter-host communication (default: the interface address)", "IP"),
        new("subnet-file", FlagKind.Value, "filename where env variables (subnet, MTU, ...) will be written to (default /run/flannel/subnet.env)", "PATH"),
        new("net-config-path", FlagKind.Value, "path to the network configuration file; wins over DIR/config (they must agree if both exist)", "PATH"),
        new("ip-masq", FlagKind.Bool, "setup IP masquerade rule for traffic destined outside of overlay network (written to FLANNEL_IPMASQ)"),
        new("subnet-lease-renew-margin", FlagKind.Value, "subnet lease renewal margin, in minutes, 1..1439 (default 60)", "MINUTES"),
        new("etcd-endpoints", FlagKind.Value, $"a comma-delimited list of etcd endpoints (default {DefaultEtcdEndpoints})", "URLS"),
        new("etcd-prefix", FlagKind.Value, $"etcd prefix (default {DefaultEtcdPrefix})", "PREFIX"),
        new("etcd-keyfile", FlagKind.Value, "SSL key file used to secure etcd communication", "PATH"),
        new("etcd-certfile", FlagKind.Value, "SSL certification file used to secure etcd communication", "PATH"),
        new("etcd-cafile", FlagKind.Value, "SSL Certificate Authority file used to secure etcd communication", "PATH"),
        new("etcd-username", FlagKind.Value, "username for BasicAuth to etcd", "USER"),
        new("etcd-password", FlagKind.Value, "password for BasicAuth to etcd", "PASSWORD"),
        new("v", FlagKind.Value, "klog verbosity: 0 info, warnings and errors; 1 adds debug, 2 trace (-v alone means 1)", "LEVEL"),
        new("log-format", FlagKind.Value, "log line format on stderr: klog (default, flanneld's header 'Lmmdd hh:mm:ss.uuuuuu pid component:0] msg') or json (one object per line: ts, level, logger, msg, fields)", "FORMAT"),
        new("lease-dir", FlagKind.Value, "use the embedded lease store in DIR (shared by every node on this machine) instead of etcd", "DIR"),
        new("healthz-ip", FlagKind.Value, "the IP address for the healthz server to listen on (default 0.0.0.0)", "IP"),
        new("healthz-port", FlagKind.Value, "the port for the healthz server to listen on; 0 disables it (default 0): /healthz, /readyz, /metrics", "PORT"),
        new("control-socket", FlagKind.Value, $"Unix socket (mode 0600, root only) for `dataplane status`, `routes` and `drops`; '{Observe.ControlServer.Off}' turns it off (default {Observe.ControlServer.DefaultPath})", "PATH"),
        new("io", FlagKind.Value, "packet I/O mode: batch (default: batches and offloads, both directions on one thread), batch-threads (a thread per direction), per-packet (flannel's loop: one syscall per packet, one thread; the baseline) or per-packet-threads", "MODE"),
        new("tun-tso", FlagKind.Bool, "batch modes: TUN with IFF_VNET_HDR and TCP segmentation offload, 64 KiB reads split in userspace (default true)"),
        new("tun-uso", FlagKind.Bool, "batch modes: UDP segmentation offload on that TUN, Linux 6.2+ (default true)"),
        new("udp-gso", FlagKind.Bool, "batch modes: send a super-packet's datagrams as UDP GSO trains (UDP_SEGMENT; turns itself off where the kernel refuses it) (default true)"),
        new("udp-gro", FlagKind.Bool, "batch modes: receive a peer's UDP GSO trains in one call (UDP_GRO, Linux 5.0+) (default true)"),
        new("mmsg", FlagKind.Bool, "batch modes: several packets per system call (sendmmsg, recvmmsg, TUN reads until empty) (default true)"),
        new("iptables-forward-rules", FlagKind.Bool, "add FLANNEL-FWD ACCEPT rules for traffic from and to the Network (default true, as flanneld)"),
        new("iptables-resync", FlagKind.Value, "resync period of the iptables rules, in seconds (default 5, as flanneld): rules someone deletes come back", "SECONDS"),
        new("ip-masq-fully-random-disable", FlagKind.Bool, "masquerade without --random-fully"),
        new("no-guard-route", FlagKind.Bool, "do not install the 'unreachable Network metric 1000' route that keeps pod traffic from leaking out of the default route while the daemon is down or restarting"),
        new("accept-unknown-peers", FlagKind.Bool, "accept overlay datagrams from underlay addresses that hold no lease (flannel's behaviour; needed when a peer sends from an address other than its PublicIP)"),
        new("unsafe-control-only", FlagKind.Bool, "TESTING ONLY: run the control plane without a packet data path (no TUN, socket or routes)"),
        new("unsafe-lease-ttl", FlagKind.Value, "TESTING ONLY: lease TTL (Go duration, e.g. 5s) instead of flannel's 24h (both stores)", "DURATION"),
    ];

    /// <summary>flanneld flags that we know and refuse by name.</summary>
    public static IReadOnlyList<UnsupportedFlag> Unsupported { get; } =
    [
        new("kube-subnet-mgr", true, false, "use --lease-dir or etcd"),
        new("kube-api-url", false, null, "the Kubernetes subnet manager is not implemented; use --lease-dir or etcd"),
        new("kubeconfig-file", false, null, "the Kubernetes subnet manager is not implemented; use --lease-dir or etcd"),
        new("kube-annotation-prefix", false, null, "the Kubernetes subnet manager is not implemented; use --lease-dir or etcd"),
        new("iface-can-reach", false, null, "use --iface or --iface-regex"),
        new("public-ipv6", false, null, "IPv6 is not supported"),
        new("ip-blackhole-route", true, false, "blackhole routes are not managed"),
        new("set-node-network-unavailable", true, false, "the Kubernetes subnet manager is not implemented"),
    ];
}
