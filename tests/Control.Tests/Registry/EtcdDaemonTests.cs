using System.Diagnostics;
using System.Text.Json;
using Dataplane.Testing;
using dotnet_etcd;
using DaemonProcess = Control.Tests.ProcessTests.Daemon;

namespace Control.Tests.Registry;

/// <summary>
/// The built daemon (control plane only: no TUN, no routes, so the root namespace is safe) against a real etcd on
/// loopback, started by each test with its own data dir and ports, under flanneld's key space at a test prefix.
/// </summary>
[NonParallelizable]
[Category("Etcd")]
public class EtcdDaemonTests
{
    /// <summary>How flanneld writes a vxlan lease (reference/flannel.md §2.3 and §3), byte for byte.</summary>
    private const string FlanneldLease =
        """{"PublicIP":"198.18.0.9","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:09"}}""";

    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(30);

    private static string[] RunArgs(TempDir dir, EtcdCluster etcd, string prefix, int node, params string[] extra) =>
    [
        "run", "--iface", "lo", "--public-ip", $"198.18.0.{node}", $"--etcd-endpoints={etcd.Endpoints}", $"--etcd-prefix={prefix}",
        "--subnet-file", dir[$"node{node}/subnet.env"], "--unsafe-control-only", .. extra,
    ];

    private static string Prefix() => $"/t{Guid.NewGuid():N}/network";

    [Test]
    public void Our_nodes_and_a_flanneld_lease_are_peers_and_our_values_are_flanneld_s()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}""").Check("put config");
        // flanneld binds its key to a 24 h etcd lease (Grant(86400)).
        var grant = etcd.Ctl("lease", "grant", "86400").Check("lease grant").StdOut.Split(' ')[1];
        etcd.Ctl("put", "--lease=" + grant, prefix + "/subnets/10.244.99.0-24", FlanneldLease).Check("put flanneld lease");

        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1));
        Assert.That(a.WaitForLog("Wrote subnet file", Startup), Is.True, a.Log);
        using var b = new DaemonProcess(RunArgs(dir, etcd, prefix, 2));
        Assert.That(b.WaitForLog("Wrote subnet file", Startup), Is.True, b.Log);
        Assert.That(b.WaitForLog("route add 10.244.99.0/24", TimeSpan.FromSeconds(5)), Is.True, "the flanneld lease is a peer:\n" + b.Log);
        Assert.That(a.WaitForLog("via 198.18.0.2", TimeSpan.FromSeconds(5)), Is.True, "a sees b within a second (failing at 5 s):\n" + a.Log);

        var values = etcd.Ctl("get", "--prefix", prefix + "/subnets/").Check("get").StdOut;
        Assert.That(values, Does.Match("""\{"PublicIP":"198\.18\.0\.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f]{2}(:[0-9a-f]{2}){5}"\}\}"""));
        var leases = etcd.Ctl("lease", "list").Check("lease list").StdOut;
        Assert.That(leases, Does.Contain("found 3 leases"), "each of our keys is bound to its own etcd lease, as flanneld's:\n" + leases);

        a.Terminate();
        Assert.That(a.Process.WaitForExit(10_000), Is.True, a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero, a.Log);
    }

    [Test]
    public void Our_key_is_bound_to_an_etcd_lease_granted_with_flanneld_s_24_hour_ttl()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1));
        Assert.That(a.WaitForLog("Wrote subnet file", Startup), Is.True, a.Log);

        // The key's lease ID (etcdctl prints it in decimal; lease timetolive wants hex), then what etcd says of it.
        var get = JsonDocument.Parse(etcd.Ctl("get", "--prefix", prefix + "/subnets/", "--write-out=json").Check("get").StdOut).RootElement;
        var kvs = get.GetProperty("kvs");
        Assert.That(kvs.GetArrayLength(), Is.EqualTo(1), get.ToString());
        var leaseId = kvs[0].GetProperty("lease").GetInt64();
        Assert.That(leaseId, Is.Not.Zero, "the key is bound to an etcd lease (a key without one is a reservation)");
        var ttl = JsonDocument.Parse(etcd.Ctl("lease", "timetolive", leaseId.ToString("x", System.Globalization.CultureInfo.InvariantCulture), "--write-out=json").Check("timetolive").StdOut).RootElement;
        TestContext.Out.WriteLine($"lease {leaseId:x}: {ttl}");
        // flannel's subnetTTL = 24 * time.Hour, granted as Grant(ctx, int64(ttl.Seconds())).
        Assert.That(ttl.GetProperty("granted-ttl").GetInt64(), Is.EqualTo(86_400), "granted with flanneld's 24 h TTL");
        Assert.That(ttl.GetProperty("ttl").GetInt64(), Is.InRange(86_400 - 60, 86_400), "and counting down from it");
    }

    [Test, CancelAfter(180_000)]
    public async Task A_watch_that_falls_behind_a_compaction_re_lists_and_converges()
    {
        // etcd never cancels a watch that is in sync when the history is compacted (it has already sent everything),
        // so the re-list path needs a watcher that is behind: the daemon frozen (SIGSTOP) stops reading its watch
        // stream, etcd's send blocks once the HTTP/2 window and gRPC's write quota are full, its watch channel
        // (128 responses) fills, the watcher becomes a "victim" at some revision; later writes are compacted away,
        // and when the daemon thaws etcd answers the watcher's next revision with CompactRevision (etcd 3.4,
        // mvcc/watchable_store.go: choose() for unsynced watchers with minRev below the compaction).
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        using var raw = new EtcdClient(etcd.Endpoints);
        await raw.PutAsync(prefix + "/subnets/10.244.50.0-24", """{"PublicIP":"198.18.0.50","PublicIPv6":null}""");
        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1));
        Assert.That(a.WaitForLog("Wrote subnet file", Startup), Is.True, a.Log);
        Assert.That(a.WaitForLog("route add 10.244.50.0/24", TimeSpan.FromSeconds(5)), Is.True, a.Log);
        var pid = a.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

        long compactedAt;
        Sh.Run("kill", ["-STOP", pid]).Check("kill -STOP");
        try
        {
            // 1 000 writes of 2 kB under the watched prefix (far more than the window and the channel hold), all to one
            // key that is not a subnet key (the daemon counts it as corrupt once), then the changes the daemon must
            // learn: 10.244.50.0/24 gone, 10.244.70.0/24 new; then the filler gone and the history compacted.
            var filler = new string('x', 2048);
            for (int i = 0; i < 1000; i++)
                await raw.PutAsync(prefix + "/subnets/filler", filler);
            await raw.DeleteRangeAsync(prefix + "/subnets/10.244.50.0-24");
            await raw.PutAsync(prefix + "/subnets/10.244.70.0-24", """{"PublicIP":"198.18.0.70","PublicIPv6":null}""");
            var last = await raw.DeleteRangeAsync(prefix + "/subnets/filler");
            compactedAt = last.Header.Revision;
            await raw.CompactAsync(new Etcdserverpb.CompactionRequest { Revision = compactedAt, Physical = true });
            TestContext.Out.WriteLine($"history compacted at revision {compactedAt} while the daemon was frozen");
        }
        finally
        {
            Sh.Run("kill", ["-CONT", pid]).Check("kill -CONT");
        }

        Assert.That(a.WaitForLog("lost its place (compacted to revision", TimeSpan.FromSeconds(30)), Is.True,
            "the watch behind the compaction is told so and re-lists:\n" + a.Log);
        Assert.That(a.WaitForLog("route add 10.244.70.0/24", TimeSpan.FromSeconds(10)), Is.True, "the re-list finds the new peer:\n" + a.Log);
        Assert.That(a.WaitForLog("route del 10.244.50.0/24", TimeSpan.FromSeconds(10)), Is.True, "and drops the one deleted meanwhile:\n" + a.Log);
        var relist = a.Log.Split('\n').First(l => l.Contains("lost its place", StringComparison.Ordinal));
        TestContext.Out.WriteLine(relist);
        Assert.That(relist, Does.Contain($"compacted to revision {compactedAt}"));
        Assert.That(a.Process.HasExited, Is.False, a.Log);
    }

    [Test]
    public void Sigterm_while_waiting_for_etcd_or_its_config_is_a_clean_exit()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        using var waiting = new DaemonProcess(RunArgs(dir, etcd, Prefix(), 1));
        Assert.That(waiting.WaitForLog("flannel config not found in etcd store", Startup), Is.True, waiting.Log);
        etcd.Kill(0);
        using var unreachable = new DaemonProcess(RunArgs(dir, etcd, Prefix(), 2));
        Assert.That(unreachable.WaitForLog("Lost contact with etcd", Startup), Is.True, unreachable.Log);
        foreach (var daemon in new[] { waiting, unreachable })
        {
            daemon.Terminate();
            Assert.That(daemon.Process.WaitForExit(10_000), Is.True, daemon.Log);
            Assert.That(daemon.Process.ExitCode, Is.Zero, "nothing was set up, nothing failed: exit 0, not an aborted process\n" + daemon.Log);
            Assert.That(daemon.Log, Does.Not.Contain("Unhandled exception"));
        }
    }

    [Test]
    public void Waits_for_the_config_then_renews_a_short_ttl_and_exits_on_revocation()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1, "--unsafe-lease-ttl", "3s"));
        Assert.That(a.WaitForLog("flannel config not found in etcd store", Startup), Is.True, a.Log);
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        Assert.That(a.WaitForLog("Wrote subnet file", TimeSpan.FromSeconds(10)), Is.True, "config picked up within the 1 s retry:\n" + a.Log);

        Thread.Sleep(TimeSpan.FromSeconds(7)); // more than two TTLs: only renewals keep the key alive
        Assert.That(a.Process.HasExited, Is.False, a.Log);
        Assert.That(a.Log, Does.Contain("Lease renewed"));
        var keys = etcd.Ctl("get", "--prefix", "--keys-only", prefix + "/subnets/").Check("get").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(keys, Has.Length.EqualTo(1), "still exactly one key after renewals");

        etcd.Ctl("del", keys[0]).Check("del");
        Assert.That(a.Process.WaitForExit(10_000), Is.True, a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero, "revocation exits cleanly, as flanneld");
        Assert.That(a.Log, Does.Contain("Lease has been revoked. Shutting down daemon."));
    }

    [Test]
    public void A_daemon_cut_off_from_a_healthy_cluster_past_its_ttl_finds_its_lease_expired_and_exits_as_revoked()
    {
        // etcd expires leases only with quorum, so the expiry case is a client cut off from a healthy cluster: here
        // frozen (SIGSTOP, as a paused VM or a long GC-free stall would be) while the three-member cluster carries on.
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start(size: 3);
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1, "--unsafe-lease-ttl", "3s"));
        Assert.That(a.WaitForLog("Wrote subnet file", Startup), Is.True, a.Log);
        var pid = a.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

        Sh.Run("kill", ["-STOP", pid]).Check("kill -STOP");
        try
        {
            // Poll (bounded) until the cluster has expired the key: the TTL is 3 s, etcd checks leases every 500 ms.
            var sw = Stopwatch.StartNew();
            string[] keys = ["?"];
            while (sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                keys = etcd.Ctl("get", "--prefix", "--keys-only", prefix + "/subnets/").Check("get").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                if (keys.Length == 0)
                    break;
                Thread.Sleep(250);
            }
            TestContext.Out.WriteLine($"key expired by the cluster after {sw.ElapsedMilliseconds} ms of the daemon being cut off");
            Assert.That(keys, Is.Empty, "a healthy cluster expires the lease of a client that stopped renewing");
        }
        finally
        {
            Sh.Run("kill", ["-CONT", pid]).Check("kill -CONT");
        }
        Assert.That(a.Process.WaitForExit(15_000), Is.True, "on reconnecting it learns its key is gone:\n" + a.Log);
        Assert.That(a.Process.ExitCode, Is.Zero, "a revocation, handled as flanneld: its log line and exit 0");
        Assert.That(a.Log, Does.Contain("Lease has been revoked. Shutting down daemon."));
    }

    [Test]
    public void Etcd_down_keeps_the_daemon_running_logs_once_and_resyncs_when_it_returns()
    {
        using var dir = new TempDir();
        using var etcd = EtcdCluster.Start();
        var prefix = Prefix();
        etcd.Ctl("put", prefix + "/config", """{"Network":"10.244.0.0/16"}""").Check("put config");
        using var a = new DaemonProcess(RunArgs(dir, etcd, prefix, 1, "-v", "1")); // debug: each retry is logged
        Assert.That(a.WaitForLog("Wrote subnet file", Startup), Is.True, a.Log);
        Thread.Sleep(500);

        etcd.Kill(0);
        Assert.That(a.WaitForLog("Lost contact with etcd", TimeSpan.FromSeconds(30)), Is.True, a.Log);
        Thread.Sleep(TimeSpan.FromSeconds(8)); // several retries' worth of outage
        Assert.That(a.Process.HasExited, Is.False, "an outage is not fatal:\n" + a.Log);
        var lostLines = a.Log.Split('\n').Count(l => l.Contains("Lost contact with etcd", StringComparison.Ordinal));
        Assert.That(lostLines, Is.EqualTo(1), "logged once, not per retry:\n" + a.Log);

        etcd.Restart(0);
        var sw = Stopwatch.StartNew();
        etcd.Ctl("put", prefix + "/subnets/10.244.77.0-24", """{"PublicIP":"198.18.0.7","PublicIPv6":null}""").Check("put peer");
        Assert.That(a.WaitForLog("route add 10.244.77.0/24", TimeSpan.FromSeconds(20)), Is.True, "resync after the outage:\n" + a.Log);
        TestContext.Out.WriteLine($"peer added after etcd returned seen in {sw.ElapsedMilliseconds} ms");
        Assert.That(a.Log, Does.Contain("again after"));
        Assert.That(a.Process.HasExited, Is.False, a.Log);
    }
}
