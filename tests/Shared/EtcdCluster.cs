using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Dataplane.Testing;

/// <summary>
/// A real etcd (Debian's <c>etcd-server</c>) owned by one test or fixture: one or three members, data dirs on
/// tmpfs (/dev/shm), ports picked free on a loopback address (or on addresses inside a namespace given by
/// <c>netns</c>), everything killed and deleted on dispose. Heartbeat and election timeouts are raised because
/// the CI machine has 2 shared cores: with etcd's defaults, leaders churn under load.
/// <para>With a <see cref="TestPki"/> the client URLs are https:// and demand a client certificate from that CA
/// (<c>--client-cert-auth</c>); <see cref="EnableAuth"/> turns on etcd's user/password authentication. Peer
/// traffic stays plain http on loopback.</para>
/// </summary>
public sealed class EtcdCluster : IDisposable
{
    private readonly List<Member> _members = [];
    private readonly string _root;
    private readonly TestPki? _tls;
    private string? _ctlUser;

    private EtcdCluster(string root, TestPki? tls)
    {
        _root = root;
        _tls = tls;
    }

    /// <summary>The client URLs, in member order.</summary>
    public IReadOnlyList<string> ClientUrls => _members.Select(m => m.ClientUrl).ToList();

    /// <summary>The client URLs joined with commas (the form of --etcd-endpoints).</summary>
    public string Endpoints => string.Join(',', ClientUrls);

    /// <summary>
    /// Starts <paramref name="size"/> members listening on <paramref name="hosts"/> (one per member; default
    /// 127.0.0.1) and waits until the cluster answers. <paramref name="netns"/> runs the members inside a
    /// network namespace (the hosts must be addresses there). <paramref name="tls"/> serves clients over TLS with
    /// its server certificate and requires a client certificate signed by its CA.
    /// </summary>
    public static EtcdCluster Start(int size = 1, IReadOnlyList<string>? hosts = null, string? netns = null, TestPki? tls = null)
    {
        Prerequisites.RequireTool("etcd");
        Prerequisites.RequireTool("etcdctl");
        // tmpfs: etcd fsyncs its WAL on every write, which on a shared disk turns into seconds of latency.
        var root = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"etcd-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        var cluster = new EtcdCluster(root, tls);
        try
        {
            var token = "t" + Guid.NewGuid().ToString("N")[..8];
            for (int i = 0; i < size; i++)
            {
                var host = hosts?[i] ?? "127.0.0.1";
                cluster._members.Add(new Member($"m{i}", host, FreePort(), FreePort(), Path.Combine(root, $"m{i}"), netns, tls));
            }
            var initial = string.Join(',', cluster._members.Select(m => $"{m.Name}={m.PeerUrl}"));
            foreach (var m in cluster._members)
                m.Start(initial, token);
            cluster.WaitHealthy(TimeSpan.FromSeconds(30));
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Kills member <paramref name="index"/> (SIGKILL, as a crash).</summary>
    public void Kill(int index) => _members[index].Kill();

    /// <summary>Restarts a killed member with its data dir.</summary>
    public void Restart(int index)
    {
        _members[index].Start(null, null);
        WaitHealthy(TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Creates the root user with <paramref name="rootPassword"/> and enables authentication; later
    /// <see cref="Ctl"/> calls run as root. Add other users and roles before or after, through Ctl.
    /// </summary>
    public void EnableAuth(string rootPassword)
    {
        Ctl("user", "add", "root:" + rootPassword).Check("etcdctl user add root");
        Ctl("auth", "enable").Check("etcdctl auth enable");
        _ctlUser = "root:" + rootPassword;
    }

    /// <summary>Runs etcdctl (v3 API) against the live members (with the client certificate and as root when set).</summary>
    public Sh.Result Ctl(params string[] args)
    {
        var live = _members.Where(m => m.Running).Select(m => m.ClientUrl);
        var all = new List<string> { "--endpoints", string.Join(',', live), "--command-timeout=5s" };
        if (_tls is { } pki)
            all.AddRange(["--cacert", pki.Ca, "--cert", pki.ClientCert, "--key", pki.ClientKey]);
        if (_ctlUser is { } user)
            all.AddRange(["--user", user]);
        all.AddRange(args);
        // etcdctl 3.4 speaks the v3 API by default.
        return _members[0].Netns is { } ns
            ? Sh.Run("ip", new[] { "netns", "exec", ns, Prerequisites.FindTool("etcdctl")! }.Concat(all), TimeSpan.FromSeconds(20))
            : Sh.Run("etcdctl", all, TimeSpan.FromSeconds(20));
    }

    private void WaitHealthy(TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        string last = "";
        for (int i = 0; i < 300 && sw.Elapsed < limit; i++)
        {
            var r = Ctl("endpoint", "health");
            if (r.ExitCode == 0)
                return;
            last = r.StdErr + r.StdOut;
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"etcd did not become healthy in {limit.TotalSeconds} s: {last.Trim()}\n{string.Join("\n", _members.Select(m => m.LogTail()))}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var m in _members)
            m.Kill();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class Member(string name, string host, int clientPort, int peerPort, string dataDir, string? netns, TestPki? tls)
    {
        private Process? _process;
        private readonly List<string> _log = [];

        public string Name => name;
        public string? Netns => netns;
        public string ClientUrl => $"{(tls is null ? "http" : "https")}://{host}:{clientPort}";
        public string PeerUrl => $"http://{host}:{peerPort}";
        public bool Running => _process is { HasExited: false };

        public void Start(string? initialCluster, string? token)
        {
            var args = new List<string>
            {
                "--name", name, "--data-dir", dataDir,
                "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
                "--listen-peer-urls", PeerUrl, "--initial-advertise-peer-urls", PeerUrl,
                "--heartbeat-interval", "250", "--election-timeout", "2500",
                "--log-level", "warn", "--logger", "zap",
            };
            if (tls is not null)
                args.AddRange(["--cert-file", tls.ServerCert, "--key-file", tls.ServerKey, "--client-cert-auth", "--trusted-ca-file", tls.Ca]);
            if (initialCluster is not null)
                args.AddRange(["--initial-cluster", initialCluster, "--initial-cluster-token", token!, "--initial-cluster-state", "new"]);
            var etcd = Prerequisites.FindTool("etcd")!;
            var psi = netns is null ? new ProcessStartInfo(etcd) : new ProcessStartInfo(Prerequisites.FindTool("ip")!);
            if (netns is not null)
            {
                foreach (var a in new[] { "netns", "exec", netns, etcd })
                    psi.ArgumentList.Add(a);
            }
            foreach (var a in args)
                psi.ArgumentList.Add(a);
            psi.RedirectStandardError = true;
            psi.RedirectStandardOutput = true;
            psi.UseShellExecute = false;
            _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start etcd");
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) { if (_log.Count < 200) _log.Add(e.Data); } };
            _process.OutputDataReceived += (_, e) => { };
            _process.BeginErrorReadLine();
            _process.BeginOutputReadLine();
        }

        public void Kill()
        {
            if (_process is null)
                return;
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
            _process = null;
        }

        public string LogTail()
        {
            lock (_log)
                return $"[{name}] " + string.Join("\n", _log.TakeLast(10));
        }
    }
}
