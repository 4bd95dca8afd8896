using System.Globalization;

namespace Control.Lab;

/// <summary>
/// Names and paths of the namespace lab. Everything the lab creates carries the <see cref="Prefix"/> so that
/// <c>lab down</c> can find and remove it even after a crash left no state behind.
/// </summary>
/// <remarks>
/// Node i (1-based): namespace <c>dpl-n{i}</c> with <c>eth0</c> = 198.18.0.{i}/24 on the underlay bridge (namespace
/// <c>dpl-ul</c>, bridge <c>br0</c>); its pod is namespace <c>dpl-p{i}</c>, attached by the Debian CNI bridge +
/// host-local plugins the way the flannel CNI plugin would attach it. The overlay Network 10.244.0.0/16 exists only
/// inside these namespaces. State lives under <see cref="Root"/>.
/// </remarks>
internal sealed class LabLayout
{
    /// <summary>
    /// Prefix of every namespace and root-namespace interface the lab creates: "dpl-", or DATAPLANE_LAB_PREFIX (at most
    /// 6 characters) so that two labs (say a test run and a benchmark) can coexist on one machine.
    /// </summary>
    public static string Prefix { get; } = Environment.GetEnvironmentVariable("DATAPLANE_LAB_PREFIX") is { Length: > 0 and <= 6 } p ? p : "dpl-";

    /// <summary>Overlay network of the lab.</summary>
    public const string Network = "10.244.0.0/16";

    public LabLayout(string? root = null) => Root = root ?? DefaultRoot;

    /// <summary>
    /// /run/dataplane-lab, or /run/dataplane-lab-&lt;prefix&gt; under another <see cref="Prefix"/>: two labs must not share a
    /// state directory, since <c>lab down</c> deletes it.
    /// </summary>
    public static string DefaultRoot => Prefix == "dpl-" ? "/run/dataplane-lab" : "/run/dataplane-lab-" + Prefix.TrimEnd('-');

    /// <summary>State directory (leases, subnet files, logs, pids).</summary>
    public string Root { get; }

    /// <summary>The shared embedded lease store.</summary>
    public string LeaseDir => Path.Combine(Root, "leases");

    public static string UnderlayNamespace => Prefix + "ul";

    /// <summary>The lab etcd's address on the underlay bridge (inside <see cref="UnderlayNamespace"/>).</summary>
    public const string EtcdAddress = "198.18.0.254";

    /// <summary>The lab etcd's client URL, as the nodes pass it to --etcd-endpoints.</summary>
    public static string EtcdEndpoint => $"http://{EtcdAddress}:2379";

    /// <summary>flanneld's default --etcd-prefix, used unchanged by the lab.</summary>
    public const string EtcdPrefix = "/coreos.com/network";

    /// <summary>The lab etcd's data directory (under the state directory, removed by lab down).</summary>
    public string EtcdDataDir => Path.Combine(Root, "etcd");

    public string EtcdLog => Path.Combine(Root, "etcd.log");

    public static string NodeNamespace(int i) => Prefix + "n" + i.ToString(CultureInfo.InvariantCulture);

    public static string PodNamespace(int i) => Prefix + "p" + i.ToString(CultureInfo.InvariantCulture);

    public static string UnderlayAddress(int i) => "198.18.0." + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>Temporary root-namespace veth names (moved and renamed at once).</summary>
    public static string VethNode(int i) => Prefix + "v" + i.ToString(CultureInfo.InvariantCulture) + "a";

    public static string VethBridge(int i) => Prefix + "v" + i.ToString(CultureInfo.InvariantCulture) + "b";

    public string NodeDir(int i) => Path.Combine(Root, "n" + i.ToString(CultureInfo.InvariantCulture));

    public string SubnetFile(int i) => Path.Combine(NodeDir(i), "subnet.env");

    public string DaemonLog(int i) => Path.Combine(NodeDir(i), "daemon.log");

    public string PidFile(int i) => Path.Combine(NodeDir(i), "daemon.pid");

    /// <summary>Node i's control socket (for <c>dataplane status|routes|drops --control-socket</c>).</summary>
    public string ControlSocket(int i) => Path.Combine(NodeDir(i), "control.sock");

    public string IpamDir(int i) => Path.Combine(NodeDir(i), "ipam");

    public string CniResult(int i) => Path.Combine(NodeDir(i), "cni-result.json");
}
