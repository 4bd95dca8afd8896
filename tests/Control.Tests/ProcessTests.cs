using System.Collections.Concurrent;
using System.Diagnostics;
using Control.Leases;
using Dataplane.Packets;
using Dataplane.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

/// <summary>The built daemon as real processes sharing one lease dir (loopback only, no root needed).</summary>
[NonParallelizable]
public class ProcessTests
{
    private static string[] RunArgs(TempDir dir, string verb, int node, params string[] extra) =>
    [
        verb, "--iface", "lo", "--public-ip", $"198.18.0.{node}", "--lease-dir", dir["leases"],
        "--subnet-file", dir[$"node{node}/subnet.env"], "--net-config-path", dir["net.json"],
        // These daemons run in the root namespace: never let them create a TUN or overlay routes there.
        .. (verb == "run" ? new[] { "--unsafe-control-only" } : []), .. extra,
    ];

    /// <summary>A running daemon whose stderr is collected line by line.</summary>
    internal sealed class Daemon : IDisposable
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public Daemon(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
        {
            var start = DataplaneProcess.StartInfo(args);
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
                start.Environment[key] = value;
            Process = Process.Start(start)!;
            Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
            Process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
            Process.BeginErrorReadLine();
            Process.BeginOutputReadLine();
        }

        public Process Process { get; }

        public string Log => string.Join('\n', _lines);

        public bool WaitForLog(string text, TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < timeout)
            {
                if (_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
                    return true;
                if (Process.HasExited)
                    return _lines.Any(l => l.Contains(text, StringComparison.Ordinal));
                Thread.Sleep(20);
            }
            return false;
        }

        public void Terminate() => Sh.Run("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Check("kill -TERM");

        public void Dispose()
        {
            if (!Process.HasExited)
                Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
            Process.Dispose();
        }
    }

    [Test]
    public void Five_processes_started_at_once_get_five_distinct_subnets()
    {
        using var dir = new TempDir();
        // 10.0.0.0/27 in /30s: 7 usable subnets, so five random pickers collide often and must retry.
        dir.Write("net.json", """{"Network":"10.0.0.0/27","SubnetLen":30}""");
        var processes = Enumerable.Range(1, 5).Select(n => Process.Start(DataplaneProcess.StartInfo(RunArgs(dir, "acquire", n)))!).ToList();
        var results = processes.Select(p =>
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            Assert.That(p.WaitForExit(60_000), Is.True, "acquire did not finish");
            p.WaitForExit();
            return (p.ExitCode, Out: stdout.Result.Trim(), Err: stderr.Result);
        }).ToList();
        foreach (var p in processes)
            p.Dispose();
        Assert.That(results.Select(r => r.ExitCode), Is.All.Zero, string.Join('\n', results.Select(r => r.Err)));
        var subnets = results.Select(r => r.Out).ToList();
        Assert.That(subnets, Is.Unique, string.Join(", ", subnets));
        var store = DirectorySubnetRegistry.Open(dir["leases"], TimeProvider.System, NullLogger.Instance).List();
        Assert.That(store.Leases.Select(l => l.Subnet.ToString()), Is.EquivalentTo(subnets));
        Assert.That(store.Leases.Select(l => l.Attributes.PublicIP.ToString()), Is.Unique);
        for (int n = 1; n <= 5; n++)
        {
            var env = File.ReadAllText(dir[$"node{n}/subnet.env"]);
            var own = store.FindByPublicIp(Ipv4Address.Parse($"198.18.0.{n}"))!;
            Assert.That(env, Does.Contain($"FLANNEL_SUBNET={new Ipv4Address(own.Subnet.Address.Value + 1)}/30\n"));
        }
    }

    [Test]
    public void Short_ttl_lease_is_renewed_while_running_expires_after_a_crash_and_peers_see_it_go()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}""");
        using var a = new Daemon(RunArgs(dir, "run", 1, "--unsafe-lease-ttl", "2s"));
        Assert.That(a.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        using var b = new Daemon(RunArgs(dir, "run", 2, "--unsafe-lease-ttl", "2s"));
        Assert.That(b.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, b.Log);
        Assert.That(b.WaitForLog("route add", TimeSpan.FromSeconds(5)), Is.True, "b programs a route to a:\n" + b.Log);
        Assert.That(a.WaitForLog("route add", TimeSpan.FromSeconds(5)), Is.True, "a sees b:\n" + a.Log);

        // Survive several TTLs: renewals must keep both leases alive.
        Thread.Sleep(TimeSpan.FromSeconds(5));
        Assert.That(a.Process.HasExited || b.Process.HasExited, Is.False, a.Log + "\n---\n" + b.Log);
        Assert.That(a.Log, Does.Contain("Lease renewed"));
        var registry = DirectorySubnetRegistry.Open(dir["leases"], TimeProvider.System, NullLogger.Instance);
        Assert.That(registry.List().Leases, Has.Count.EqualTo(2));

        // Crash a (SIGKILL: no goodbye). Its lease expires within the TTL and b removes the route.
        a.Process.Kill();
        var sw = Stopwatch.StartNew();
        Assert.That(b.WaitForLog("route del", TimeSpan.FromSeconds(10)), Is.True, b.Log);
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2 + 1 + 2)), "expiry (2 s) + detection (<1 s), with slack");
        Assert.That(registry.List().Leases.Select(l => l.Attributes.PublicIP.ToString()), Is.EqualTo(new[] { "198.18.0.2" }));

        // SIGTERM: prompt, clean exit 0.
        sw.Restart();
        b.Terminate();
        Assert.That(b.Process.WaitForExit(10_000), Is.True);
        Assert.That(b.Process.ExitCode, Is.Zero, b.Log);
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public void Under_systemd_ready_is_sent_once_the_node_is_ready_and_stopping_on_sigterm()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
        var path = dir["notify.sock"];
        using var notify = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        notify.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        notify.ReceiveTimeout = 30_000;
        using var a = new Daemon(RunArgs(dir, "run", 1), new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path });
        var buffer = new byte[256];
        string Next() => System.Text.Encoding.UTF8.GetString(buffer, 0, notify.Receive(buffer));
        Assert.That(Next(), Is.EqualTo("READY=1"), a.Log);
        Assert.That(File.Exists(dir["node1/subnet.env"]), Is.True, "READY=1 comes after subnet.env is written");
        a.Terminate();
        Assert.That(Next(), Is.EqualTo("STOPPING=1"), a.Log);
        Assert.That(a.Process.WaitForExit(10_000), Is.True, a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero);
    }

    [Test]
    public void Health_endpoints_answer_as_flanneld_s_and_readyz_follows_the_node()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var a = new Daemon(RunArgs(dir, "run", 1, "--healthz-ip", "127.0.0.1", $"-healthz-port={port}"));
        Assert.That(a.WaitForLog("Running with data path", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        int Status(string path) => (int)http.GetAsync($"http://127.0.0.1:{port}{path}").GetAwaiter().GetResult().StatusCode;
        Assert.That(Status("/healthz"), Is.EqualTo(200), a.Log);
        Assert.That(Status("/readyz"), Is.EqualTo(200), "ready once subnet.env is written:\n" + a.Log);
        Assert.That(Status("/nope"), Is.EqualTo(404));
        a.Terminate();
        Assert.That(a.Process.WaitForExit(10_000), Is.True, a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero);
    }

    [Test]
    public void Deleting_our_lease_revokes_it_and_the_daemon_exits_loudly()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
        using var a = new Daemon(RunArgs(dir, "run", 1));
        Assert.That(a.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        var lease = Directory.GetFiles(dir["leases/subnets"]).Single(f => !Path.GetFileName(f).StartsWith('.'));
        File.Delete(lease);
        Assert.That(a.Process.WaitForExit(10_000), Is.True, a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero, "revocation exits cleanly, as flanneld");
        Assert.That(a.Log, Does.Contain("Lease has been revoked. Shutting down daemon."));
    }

    [Test]
    public void Restart_reuses_the_same_subnet_and_vtep_mac()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":4}}""");
        var first = DataplaneProcess.Run(RunArgs(dir, "acquire", 3));
        Assert.That(first.Exit, Is.Zero, first.Err);
        var leaseFile = Directory.GetFiles(dir["leases/subnets"]).Single(f => !Path.GetFileName(f).StartsWith('.'));
        var before = File.ReadAllText(leaseFile);
        Assert.That(before, Does.Match("""^\{"PublicIP":"198\.18\.0\.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":4,"VtepMAC":"[0-9a-f]{2}(:[0-9a-f]{2}){5}"\}\}$"""));
        var second = DataplaneProcess.Run(RunArgs(dir, "acquire", 3));
        Assert.That(second.Out, Is.EqualTo(first.Out));
        Assert.That(File.ReadAllText(leaseFile), Is.EqualTo(before), "same subnet, same VtepMAC across restarts");
    }

    [Test]
    public void Unknown_flag_via_the_real_executable_exits_2()
    {
        var r = DataplaneProcess.Run(["run", "-kube-subnet-mgr"]);
        Assert.That(r.Exit, Is.EqualTo(2));
        Assert.That(r.Err.Trim(), Is.EqualTo("dataplane: --kube-subnet-mgr is not supported yet: use --lease-dir or etcd"));
    }
}
