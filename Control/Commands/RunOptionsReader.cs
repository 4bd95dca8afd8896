using System.CommandLine;
using System.Globalization;
using Control.Daemon;
using Control.Interfaces;
using Control.Leases;
using Dataplane.Packets;

namespace Control.Commands;

/// <summary>Turns parsed <c>run</c> flags into validated <see cref="RunOptions"/>; every problem is a usage error.</summary>
internal static class RunOptionsReader
{
    /// <summary>Validates and converts.</summary>
    public static RunOptions Read(ParseResult result, VerbOptions o)
    {
        Ipv4Address? publicIp = null;
        if (o.Value(result, "public-ip") is { } ipText)
        {
            publicIp = Ipv4Address.TryParse(ipText, out var ip)
                ? ip
                : throw ControlException.Usage($"invalid --public-ip '{ipText}': not an IPv4 address");
        }

        int marginMinutes = 60;
        if (o.Value(result, "subnet-lease-renew-margin") is { } marginText
            && (!int.TryParse(marginText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out marginMinutes) || marginMinutes is < 1 or > 1439))
        {
            throw ControlException.Usage($"invalid --subnet-lease-renew-margin '{marginText}': must be a number of minutes between 1 and 1439");
        }

        int resyncSeconds = 5;
        if (o.Value(result, "iptables-resync") is { } resyncText
            && (!int.TryParse(resyncText, NumberStyles.None, CultureInfo.InvariantCulture, out resyncSeconds) || resyncSeconds is < 1 or > 86400))
        {
            // flanneld takes any int; 0 would make its resync loop spin, so we ask for at least a second.
            throw ControlException.Usage($"invalid --iptables-resync '{resyncText}': must be a number of seconds between 1 and 86400");
        }

        int verbosity = 0;
        if (o.Value(result, "v") is { } vText && (!int.TryParse(vText, NumberStyles.None, CultureInfo.InvariantCulture, out verbosity)))
            throw ControlException.Usage($"invalid -v '{vText}': must be a non-negative log level");
        var logFormat = Logging.ParseFormat(o.Value(result, "log-format"));

        var leaseDir = o.Value(result, "lease-dir");
        if (leaseDir is "")
            throw ControlException.Usage("--lease-dir needs a directory");
        var etcdEndpoints = o.Value(result, "etcd-endpoints");
        var etcdPrefix = o.Value(result, "etcd-prefix");
        string[] etcdFlags = ["etcd-endpoints", "etcd-prefix", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "etcd-username", "etcd-password"];
        if (leaseDir is not null && etcdFlags.FirstOrDefault(f => o.Value(result, f) is not null) is { } etcdFlag)
        {
            throw ControlException.Usage(
                $"contradictory flags: --lease-dir selects the embedded lease store, so --{etcdFlag} cannot be used with it");
        }
        var endpoints = (etcdEndpoints ?? RunFlags.DefaultEtcdEndpoints).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (endpoints.Length == 0)
            throw ControlException.Usage("--etcd-endpoints needs at least one URL");
        var etcd = new EtcdOptions(endpoints, etcdPrefix ?? RunFlags.DefaultEtcdPrefix,
            NonEmpty(o.Value(result, "etcd-cafile")), NonEmpty(o.Value(result, "etcd-certfile")), NonEmpty(o.Value(result, "etcd-keyfile")),
            NonEmpty(o.Value(result, "etcd-username")), o.Value(result, "etcd-password"));
        if ((etcd.CertFile is null) != (etcd.KeyFile is null))
            throw ControlException.Usage("--etcd-certfile and --etcd-keyfile go together: give both or neither");

        var io = ParseIo(o.Value(result, "io") ?? "batch");
        var offloads = new OffloadOptions(
            TunTso: o.Bool(result, "tun-tso", absent: true),
            TunUso: o.Bool(result, "tun-uso", absent: true),
            UdpGso: o.Bool(result, "udp-gso", absent: true),
            Mmsg: o.Bool(result, "mmsg", absent: true),
            UdpGro: o.Bool(result, "udp-gro", absent: true));
        if (io is IoMode.PerPacket or IoMode.PerPacketThreads && offloads != OffloadOptions.All)
            throw ControlException.Usage($"contradictory flags: --io {o.Value(result, "io")} uses no offloads, so --{offloads.Disabled.Split(',')[0]}=false means nothing there");

        int healthzPort = 0;
        if (o.Value(result, "healthz-port") is { } portText
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out healthzPort) || healthzPort > 65535))
        {
            throw ControlException.Usage($"invalid --healthz-port '{portText}': must be a port number, 0 to 65535");
        }
        var healthzIp = o.Value(result, "healthz-ip") ?? "0.0.0.0";
        if (!System.Net.IPAddress.TryParse(healthzIp, out _))
            throw ControlException.Usage($"invalid --healthz-ip '{healthzIp}': not an IP address");

        var ttl = RenewalSchedule.DefaultTtl;
        if (o.Value(result, "unsafe-lease-ttl") is { } ttlText)
        {
            if (!GoDuration.TryParse(ttlText, out ttl) || ttl < TimeSpan.FromSeconds(1) || ttl > RenewalSchedule.DefaultTtl)
                throw ControlException.Usage($"invalid --unsafe-lease-ttl '{ttlText}': must be a Go duration between 1s and 24h (e.g. 5s)");
        }

        var regexes = o.Values(result, "iface-regex");
        foreach (var regex in regexes)
            ExternalInterfaceSelector.Compile(regex);
        var ifaces = o.Values(result, "iface");
        if (ifaces.Any(string.IsNullOrWhiteSpace))
            throw ControlException.Usage("--iface needs an interface name or IP");

        var subnetFile = o.Value(result, "subnet-file") ?? SubnetEnv.SubnetEnvFile.DefaultPath;
        if (subnetFile.Length == 0)
            throw ControlException.Usage("--subnet-file needs a path");

        return new RunOptions
        {
            Ifaces = ifaces,
            IfaceRegexes = regexes,
            PublicIp = publicIp,
            SubnetFile = subnetFile,
            NetConfigPath = o.Value(result, "net-config-path") is { Length: > 0 } p ? p : null,
            IpMasq = o.Bool(result, "ip-masq"),
            GuardRoute = !o.Bool(result, "no-guard-route"),
            AcceptUnknownPeers = o.Bool(result, "accept-unknown-peers"),
            ControlOnly = o.Bool(result, "unsafe-control-only"),
            ForwardRules = o.Bool(result, "iptables-forward-rules", absent: true),
            IptablesResync = TimeSpan.FromSeconds(resyncSeconds),
            IpMasqRandomFully = !o.Bool(result, "ip-masq-fully-random-disable"),
            RenewMargin = TimeSpan.FromMinutes(marginMinutes),
            Etcd = etcd,
            LeaseDir = leaseDir,
            Io = io,
            Offloads = offloads,
            HealthzIp = healthzIp,
            HealthzPort = healthzPort,
            ControlSocket = o.Value(result, "control-socket"),
            LeaseTtl = ttl,
            Verbosity = verbosity,
            LogFormat = logFormat,
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>The <c>--io</c> value (also checked by <c>lab up --io</c> before it builds anything).</summary>
    internal static IoMode ParseIo(string text) => text switch
    {
        "batch" => IoMode.Batch,
        "batch-threads" => IoMode.BatchThreads,
        "per-packet" => IoMode.PerPacket,
        "per-packet-threads" => IoMode.PerPacketThreads,
        var other => throw ControlException.Usage($"invalid --io '{other}': use batch, batch-threads, per-packet or per-packet-threads"),
    };
}
