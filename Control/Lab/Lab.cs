using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace Control.Lab;

/// <summary>
/// The namespace lab: N "nodes" on a shared underlay, each running <c>dataplane run</c> on the embedded lease store
/// with its own subnet file, each with one "pod" attached through the Debian CNI bridge plugin. Used by
/// <c>dataplane lab</c>, the README demo, the end-to-end tests and the benchmark.
/// </summary>
/// <remarks>
/// Nothing touches the root namespace's routes: root-namespace objects are only the transient veth ends, which are
/// moved into the lab namespaces at once. <see cref="Down"/> removes everything carrying the lab prefix and is
/// idempotent, so it also cleans up after a crashed run.
/// </remarks>
internal sealed class Lab
{
    private readonly LabLayout _layout;
    private readonly TextWriter _log;

    public Lab(LabLayout? layout = null, TextWriter? log = null)
    {
        _layout = layout ?? new LabLayout();
        _log = log ?? TextWriter.Null;
    }

    public LabLayout Layout => _layout;

    /// <summary>Builds the lab; on failure everything built so far is removed again.</summary>
    public void Up(LabOptions options)
    {
        if (options.Nodes is < 1 or > 200)
            throw new LabException($"--nodes must be 1..200, got {options.Nodes}");
        if (options.Backend is not ("udp" or "vxlan" or "host-gw"))
            throw new LabException($"--backend must be udp, vxlan or host-gw, got '{options.Backend}'");
        if (options.Store is not ("dir" or "etcd"))
            throw new LabException($"--store must be dir or etcd, got '{options.Store}'");
        Down();
        try
        {
            var config = $"{{\"Network\":\"{LabLayout.Network}\",\"Backend\":{{\"Type\":\"{options.Backend}\"}}}}";
            if (options.Store == "dir")
            {
                Directory.CreateDirectory(Path.Combine(_layout.LeaseDir, "subnets"));
                File.WriteAllText(Path.Combine(_layout.LeaseDir, "config"), config + "\n");
            }
            Step("underlay bridge");
            var ul = LabLayout.UnderlayNamespace;
            LabShell.Ok($"ip netns add {ul}");
            LabShell.InNs(ul, "ip link set lo up");
            LabShell.InNs(ul, "ip link add br0 type bridge");
            LabShell.InNs(ul, "ip link set br0 up");
            if (options.Store == "etcd" && options.EtcdEndpoints is null)
                StartEtcd(config);
            for (int i = 1; i <= options.Nodes; i++)
                AddNode(i);
            if (!options.StartDaemons)
                return;
            for (int i = 1; i <= options.Nodes; i++)
                StartDaemon(i, options);
            for (int i = 1; i <= options.Nodes; i++)
                AttachPod(i);
            WaitConverged(options.Nodes, TimeSpan.FromSeconds(15));
        }
        catch
        {
            Down();
            throw;
        }
    }

    /// <summary>Adds node i: namespace, underlay veth, forwarding on.</summary>
    public void AddNode(int i)
    {
        Step($"node {i}");
        var ns = LabLayout.NodeNamespace(i);
        Directory.CreateDirectory(_layout.NodeDir(i));
        LabShell.Ok($"ip netns add {ns}");
        LabShell.InNs(ns, "ip link set lo up");
        var a = LabLayout.VethNode(i);
        var b = LabLayout.VethBridge(i);
        LabShell.Ok($"ip link add {a} type veth peer name {b}");
        LabShell.Ok($"ip link set {a} netns {ns} name eth0");
        LabShell.Ok($"ip link set {b} netns {LabLayout.UnderlayNamespace} name n{i}");
        LabShell.InNs(LabLayout.UnderlayNamespace, $"ip link set n{i} master br0 up");
        LabShell.InNs(ns, $"ip addr add {LabLayout.UnderlayAddress(i)}/24 dev eth0");
        LabShell.InNs(ns, "ip link set eth0 up");
        LabShell.InNs(ns, "sysctl -qw net.ipv4.ip_forward=1");
    }

    /// <summary>Starts node i's daemon in the background (detached: it outlives <c>lab up</c>).</summary>
    public void StartDaemon(int i, LabOptions options)
    {
        Step($"daemon {i}");
        // No verb: the daemon takes flanneld's command line as it is (`run` would be the explicit alias).
        var args = new List<string>(options.DataplaneCommand ?? DataplaneCommand());
        // etcd: exactly flanneld's flags (endpoints and the default prefix); dir: our embedded store.
        args.AddRange(options.Store == "etcd"
            ? ["--etcd-endpoints", options.EtcdEndpoints ?? LabLayout.EtcdEndpoint, "--etcd-prefix", LabLayout.EtcdPrefix]
            : ["--lease-dir", _layout.LeaseDir]);
        args.AddRange(["--iface", "eth0", "--subnet-file", _layout.SubnetFile(i)]);
        // Every node's daemon shares this filesystem: each gets its own control socket (dataplane status --control-socket …).
        args.AddRange(["--control-socket", _layout.ControlSocket(i)]);
        if (options.IpMasq)
            args.Add("--ip-masq");
        args.AddRange(options.DaemonArgs);
        var quoted = string.Join(' ', args.Select(Quote));
        // setsid + exec: the daemon gets its own session, so it survives this process and is killed by lab down.
        var script = $"setsid ip netns exec {LabLayout.NodeNamespace(i)} {quoted} >>{Quote(_layout.DaemonLog(i))} 2>&1 </dev/null & echo $!";
        var r = LabShell.Run("/bin/sh", ["-c", script]);
        File.WriteAllText(_layout.PidFile(i), r.StdOut.Trim());
        WaitFor(() => File.Exists(_layout.SubnetFile(i)), TimeSpan.FromSeconds(20),
            () => $"node {i}'s daemon wrote no {_layout.SubnetFile(i)}; its log says:\n{TailLog(i)}");
    }

    /// <summary>
    /// Starts one etcd member inside the underlay namespace on <see cref="LabLayout.EtcdAddress"/> (the nodes reach it
    /// over their eth0, as flanneld nodes reach a cluster etcd; the root namespace's loopback is out of their reach),
    /// waits until it answers, and writes the network config at flanneld's key.
    /// </summary>
    private void StartEtcd(string config)
    {
        Step("etcd (lease store) in the underlay namespace");
        var ul = LabLayout.UnderlayNamespace;
        LabShell.InNs(ul, $"ip addr add {LabLayout.EtcdAddress}/24 dev br0");
        Directory.CreateDirectory(_layout.EtcdDataDir);
        LaunchEtcd();
        var put = LabShell.Run("ip", ["netns", "exec", ul, "etcdctl", "--endpoints", LabLayout.EtcdEndpoint, "put", LabLayout.EtcdPrefix + "/config", config]);
        if (put.ExitCode != 0)
            throw new LabException($"etcdctl put {LabLayout.EtcdPrefix}/config failed: {put.StdErr.Trim()}");
    }

    /// <summary>
    /// Starts the lab's etcd member on its data dir (detached, in the underlay namespace) and waits until it answers.
    /// Also how the outage tests bring it back after <see cref="KillEtcd"/>: same data dir, so same keys and leases.
    /// </summary>
    public void LaunchEtcd()
    {
        var ul = LabLayout.UnderlayNamespace;
        string[] etcd =
        [
            "etcd", "--name", "lab", "--data-dir", _layout.EtcdDataDir,
            "--listen-client-urls", LabLayout.EtcdEndpoint, "--advertise-client-urls", LabLayout.EtcdEndpoint,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "lab=http://127.0.0.1:2380", "--log-level", "warn", "--logger", "zap",
        ];
        var script = $"setsid ip netns exec {ul} {string.Join(' ', etcd.Select(Quote))} >>{Quote(_layout.EtcdLog)} 2>&1 </dev/null &";
        LabShell.Run("/bin/sh", ["-c", script]);
        WaitFor(() => LabShell.Run("ip", ["netns", "exec", ul, "etcdctl", "--endpoints", LabLayout.EtcdEndpoint, "endpoint", "health"]).ExitCode == 0,
            TimeSpan.FromSeconds(20), () => $"the lab etcd did not become healthy; {_layout.EtcdLog} says:\n{(File.Exists(_layout.EtcdLog) ? File.ReadAllText(_layout.EtcdLog) : "(no log)")}");
    }

    /// <summary>
    /// Kills the lab's etcd (SIGKILL, as a crash): the only processes in the underlay namespace are etcd's. Returns
    /// the PIDs killed.
    /// </summary>
    public IReadOnlyList<int> KillEtcd()
    {
        var pids = NamespacePids(LabLayout.UnderlayNamespace);
        foreach (var pid in pids)
            LabShell.Try($"kill -KILL {pid}");
        WaitFor(() => NamespacePids(LabLayout.UnderlayNamespace).Count == 0, TimeSpan.FromSeconds(10), () => "the lab etcd did not die on SIGKILL");
        return pids;
    }

    /// <summary>Stops node i's daemon with SIGTERM (SIGKILL after <paramref name="grace"/>).</summary>
    public void StopDaemon(int i, TimeSpan? grace = null)
    {
        foreach (var pid in DaemonPids(i))
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                LabShell.Try($"kill -TERM {pid}");
                if (!p.WaitForExit(grace ?? TimeSpan.FromSeconds(5)))
                    p.Kill(true);
            }
            catch (ArgumentException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }
        File.Delete(_layout.PidFile(i));
    }

    /// <summary>Creates pod i and attaches it through CNI; returns the pod address.</summary>
    public string AttachPod(int i)
    {
        Step($"pod {i}");
        var pod = LabLayout.PodNamespace(i);
        LabShell.Ok($"ip netns add {pod}");
        LabShell.InNs(pod, "ip link set lo up");
        var address = CniAttach.Add(LabLayout.NodeNamespace(i), pod, _layout.SubnetFile(i), _layout.IpamDir(i));
        File.WriteAllText(_layout.CniResult(i), address);
        return address;
    }

    /// <summary>
    /// Waits until pod 1 and every other pod reach each other (each daemon has seen the others' leases: they watch
    /// the store and see a change within a second), so <c>lab up</c> returns a lab that works.
    /// </summary>
    public void WaitConverged(int nodes, TimeSpan timeout)
    {
        Step("waiting for every node to see every lease");
        for (int j = 2; j <= nodes; j++)
        {
            foreach (var (from, to) in new[] { (1, j), (j, 1) })
            {
                int f = from, t = to;
                WaitFor(() => LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(f), "ping", "-c", "1", "-W", "0.3", PodAddress(t)]).ExitCode == 0,
                    timeout, () => $"pod {f} cannot reach pod {t} after {timeout.TotalSeconds:0} s; node {f} log:\n{TailLog(f)}\nnode {t} log:\n{TailLog(t)}");
            }
        }
    }

    /// <summary>Pod i's address (from the CNI result).</summary>
    public string PodAddress(int i) => File.ReadAllText(_layout.CniResult(i)).Trim();

    /// <summary>Removes everything the lab made. Idempotent; never throws for what is already gone.</summary>
    public void Down()
    {
        var namespaces = LabShell.Try("ip netns list").StdOut
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(n => n.StartsWith(LabLayout.Prefix, StringComparison.Ordinal))
            .ToList();
        // Daemons first (SIGTERM lets them remove their routes and masquerade rules), then anything left.
        foreach (var ns in namespaces.Where(n => n.StartsWith(LabLayout.Prefix + "n", StringComparison.Ordinal)))
            foreach (var pid in NamespacePids(ns))
                LabShell.Try($"kill -TERM {pid}");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline && namespaces.Any(ns => NamespacePids(ns).Count > 0))
            Thread.Sleep(100);
        foreach (var ns in namespaces)
            foreach (var pid in NamespacePids(ns))
                LabShell.Try($"kill -KILL {pid}");
        foreach (var ns in namespaces)
            LabShell.Try($"ip netns del {ns}");
        // Transient veth ends left in the root namespace by a crash between "add" and "move".
        foreach (var line in LabShell.Try("ip -o link show").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = line.Split(':', 3).ElementAtOrDefault(1)?.Trim().Split('@')[0];
            if (name is not null && name.StartsWith(LabLayout.Prefix, StringComparison.Ordinal))
                LabShell.Try($"ip link del {name}");
        }
        if (Directory.Exists(_layout.Root))
            Directory.Delete(_layout.Root, recursive: true);
    }

    /// <summary>Human-readable state: namespaces, daemons, leases, routes, pods.</summary>
    public string Status()
    {
        var sb = new StringBuilder();
        var namespaces = LabShell.Try("ip netns list").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0]).Where(n => n.StartsWith(LabLayout.Prefix, StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (namespaces.Count == 0)
            return "lab is down (no dpl-* namespaces)\n";
        sb.AppendLine(CultureInfo.InvariantCulture, $"namespaces: {string.Join(' ', namespaces)}");
        for (int i = 1; namespaces.Contains(LabLayout.NodeNamespace(i)); i++)
        {
            var pids = DaemonPids(i);
            sb.AppendLine(CultureInfo.InvariantCulture, $"node {i} ({LabLayout.UnderlayAddress(i)}): daemon {(pids.Count > 0 ? "pid " + string.Join(',', pids) : "not running")}; dataplane status --control-socket {_layout.ControlSocket(i)}");
            if (File.Exists(_layout.SubnetFile(i)))
                sb.AppendLine("  " + File.ReadAllText(_layout.SubnetFile(i)).Trim().Replace("\n", "\n  ", StringComparison.Ordinal));
            if (File.Exists(_layout.CniResult(i)))
                sb.AppendLine(CultureInfo.InvariantCulture, $"  pod {LabLayout.PodNamespace(i)}: {PodAddress(i)}");
            var routes = LabShell.Try($"ip -n {LabLayout.NodeNamespace(i)} route show").StdOut.Trim();
            sb.AppendLine("  routes: " + routes.Replace("\n", "\n          ", StringComparison.Ordinal));
        }
        var etcdLeases = Directory.Exists(_layout.EtcdDataDir)
            ? LabShell.Run("ip", ["netns", "exec", LabLayout.UnderlayNamespace, "etcdctl", "--endpoints", LabLayout.EtcdEndpoint, "get", "--prefix", LabLayout.EtcdPrefix + "/subnets/"])
            : null;
        if (etcdLeases is { ExitCode: 0 })
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"leases (etcd {LabLayout.EtcdEndpoint}, key then value):");
            foreach (var line in etcdLeases.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                sb.AppendLine("  " + line);
        }
        var subnets = Path.Combine(_layout.LeaseDir, "subnets");
        if (Directory.Exists(subnets))
        {
            sb.AppendLine("leases:");
            foreach (var f in Directory.GetFiles(subnets).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal))
                sb.AppendLine(CultureInfo.InvariantCulture, $"  {Path.GetFileName(f)} {File.ReadAllText(f).Trim()}");
        }
        return sb.ToString();
    }

    /// <summary>Last lines of node i's daemon log.</summary>
    public string TailLog(int i, int lines = 20) =>
        File.Exists(_layout.DaemonLog(i)) ? string.Join('\n', File.ReadAllLines(_layout.DaemonLog(i)).TakeLast(lines)) : "(no log)";

    /// <summary>PIDs of processes in node i's namespace (the daemon and anything it started).</summary>
    public IReadOnlyList<int> DaemonPids(int i) => NamespacePids(LabLayout.NodeNamespace(i));

    private static List<int> NamespacePids(string ns) =>
        LabShell.Try($"ip netns pids {ns}").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int p) ? p : -1)
            .Where(p => p > 0).ToList();

    /// <summary>
    /// How to start the dataplane daemon: <c>DATAPLANE_EXE</c> when set, else this same executable when it is the
    /// daemon (also as "dotnet Dataplane.Control.dll"), else the daemon built beside this one (Dataplane.Bench and the
    /// tests reference Control, which copies its apphost and dll into their output).
    /// </summary>
    public static IReadOnlyList<string> DataplaneCommand() => CommandFor("Dataplane.Control", "DATAPLANE_EXE", "dataplane");

    /// <summary>
    /// How to start the program whose entry assembly is <paramref name="assembly"/>: <paramref name="overrideVariable"/>
    /// when set; this process when it is that program; its apphost or dll in this process's base directory; else
    /// <paramref name="fallback"/> from PATH.
    /// </summary>
    public static IReadOnlyList<string> CommandFor(string assembly, string overrideVariable, string fallback)
    {
        var overrideExe = Environment.GetEnvironmentVariable(overrideVariable);
        if (!string.IsNullOrEmpty(overrideExe))
            return [overrideExe];
        var process = Environment.ProcessPath ?? fallback;
        bool dotnetHost = Path.GetFileNameWithoutExtension(process) == "dotnet";
        if (Assembly.GetEntryAssembly()?.GetName().Name == assembly)
            // "dotnet X.dll" is never a single-file app, so the entry assembly sits in the base directory.
            return dotnetHost ? [process, Path.Combine(AppContext.BaseDirectory, assembly + ".dll")] : [process];
        var apphost = Path.Combine(AppContext.BaseDirectory, assembly);
        if (File.Exists(apphost))
            return [apphost];
        var dll = Path.Combine(AppContext.BaseDirectory, assembly + ".dll");
        if (File.Exists(dll))
            return [dotnetHost ? process : "dotnet", dll];
        return [fallback];
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new LabException(failure());
            Thread.Sleep(50);
        }
    }

    private static string Quote(string s) => s.All(c => char.IsLetterOrDigit(c) || "-_./=:,".Contains(c, StringComparison.Ordinal)) ? s : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private void Step(string what) => _log.WriteLine($"lab: {what}");
}
