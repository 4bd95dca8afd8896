using System.Diagnostics;
using Control.Masquerade;
using Dataplane.Packets;
using Dataplane.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests.EndToEnd;

/// <summary>
/// flanneld's iptables lifecycle (issue 13 §4) against real tables, each test in its own network namespace (iptables
/// rules are per namespace: the root namespace's tables are never touched). iptables-legacy is used because it takes
/// the xtables lock (the nft variant does not); the lock file is private to the test (XTABLES_LOCKFILE), so holding
/// it never blocks anyone else's iptables on this machine.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class IptablesTests
{
    private static readonly Ipv4Prefix Network = Ipv4Prefix.Parse("10.244.0.0/16");
    private static readonly Ipv4Prefix Subnet = Ipv4Prefix.Parse("10.244.3.0/24");

    private NetnsScope _scope = null!;
    private TempDir _dir = null!;
    private string _ns = "";

    [SetUp]
    public void SetUp()
    {
        Prerequisites.RequireRoot();
        Prerequisites.RequireTool("ip");
        Prerequisites.RequireTool("iptables-legacy");
        Prerequisites.RequireTool("iptables-legacy-restore");
        Prerequisites.RequireTool("flock");
        _scope = new NetnsScope();
        _dir = new TempDir();
        _ns = _scope.Create("ipt");
    }

    [TearDown]
    public void TearDown()
    {
        _scope?.Dispose();
        _dir?.Dispose();
    }

    private string LockFile => _dir["xtables.lock"];

    private IptablesTools Tools(TimeSpan? lockWait = null, TimeSpan? timeout = null) => new(
        "iptables-legacy", "iptables-legacy-restore", lockWait ?? TimeSpan.FromSeconds(5), timeout ?? TimeSpan.FromSeconds(15),
        ["env", $"XTABLES_LOCKFILE={LockFile}", "ip", "netns", "exec", _ns]);

    private string Save(string table) => NetnsScope.Exec(_ns, $"iptables-legacy-save -t {table}");

    private static List<string> Lines(string save, string chain) =>
        save.Split('\n').Where(l => l.StartsWith($"-A {chain} ", StringComparison.Ordinal)).ToList();

    [Test]
    public void Chains_are_built_in_order_with_restore_and_a_restart_does_not_duplicate_them()
    {
        using (var first = new FlannelIptables(NullLogger.Instance, Tools()))
            first.Start(Network, Subnet, forward: true, masquerade: true, randomFully: true, TimeSpan.FromMinutes(5));
        // A second start (a restart) over the rules the first one left.
        using var second = new FlannelIptables(NullLogger.Instance, Tools());
        second.Start(Network, Subnet, forward: true, masquerade: true, randomFully: true, TimeSpan.FromMinutes(5));

        var nat = Save("nat");
        var filter = Save("filter");
        TestContext.Out.WriteLine(nat + filter);
        Assert.That(Lines(nat, "POSTROUTING"), Is.EqualTo(new[] { "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG" }));
        Assert.That(Lines(nat, "FLANNEL-POSTRTG"), Is.EqualTo(new[]
        {
            "-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
            "-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
        }));
        Assert.That(Lines(filter, "FORWARD"), Is.EqualTo(new[] { "-A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD" }));
        Assert.That(Lines(filter, "FLANNEL-FWD"), Is.EqualTo(new[]
        {
            "-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT",
            "-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT",
        }));
        Assert.That(second.AllPresent(), Is.True);
    }

    [Test]
    public void Rules_someone_flushes_or_deletes_come_back_within_the_resync_period()
    {
        var resync = TimeSpan.FromSeconds(1);
        using var iptables = new FlannelIptables(NullLogger.Instance, Tools());
        iptables.Start(Network, Subnet, forward: true, masquerade: true, randomFully: true, resync);
        var expectedNat = Lines(Save("nat"), "FLANNEL-POSTRTG");

        NetnsScope.Exec(_ns, "iptables-legacy -t nat -F FLANNEL-POSTRTG");
        Sh.Run("ip", ["netns", "exec", _ns, "iptables-legacy", "-t", "filter", "-D", "FORWARD", "-m", "comment", "--comment", "flanneld forward", "-j", "FLANNEL-FWD"])
            .Check("delete the FORWARD jump");
        Assert.That(Lines(Save("filter"), "FORWARD"), Is.Empty);
        var sw = Stopwatch.StartNew();
        var back = NodeAndPeer.Poll(() => Lines(Save("nat"), "FLANNEL-POSTRTG").SequenceEqual(expectedNat) && Lines(Save("filter"), "FORWARD").Count == 1,
            resync * 10);
        TestContext.Out.WriteLine($"rules back after {sw.Elapsed.TotalSeconds:F1} s (resync {resync.TotalSeconds} s); rebuilds {iptables.Rebuilds}");
        Assert.That(back, Is.Not.Null, "rules not restored within 10 resync periods:\n" + Save("nat") + Save("filter"));
        Assert.That(iptables.Rebuilds, Is.GreaterThanOrEqualTo(1));
        Assert.That(Lines(Save("filter"), "FORWARD"), Has.Count.EqualTo(1), "no duplicate jump");
    }

    [Test]
    public void Stop_leaves_the_rules_and_a_start_with_another_subnet_drops_the_old_ones()
    {
        using (var old = new FlannelIptables(NullLogger.Instance, Tools()))
            old.Start(Network, Subnet, forward: true, masquerade: true, randomFully: true, TimeSpan.FromMinutes(5));
        Assert.That(Save("nat"), Does.Contain("-s 10.244.3.0/24"), "rules stay after a clean stop, as flanneld's");
        Assert.That(Save("filter"), Does.Contain("FLANNEL-FWD"));

        var newSubnet = Ipv4Prefix.Parse("10.244.7.0/24");
        using var next = new FlannelIptables(NullLogger.Instance, Tools());
        next.Start(Network, newSubnet, forward: true, masquerade: true, randomFully: true, TimeSpan.FromMinutes(5), Network, Subnet);
        var nat = Save("nat");
        Assert.That(nat, Does.Not.Contain("10.244.3.0/24"), "the previous subnet's rules are gone");
        Assert.That(nat, Does.Contain("-s 10.244.7.0/24 -d 10.244.0.0/16"));
        Assert.That(Lines(nat, "POSTROUTING"), Has.Count.EqualTo(1));
    }

    [Test]
    public void A_held_xtables_lock_is_a_clear_error_within_the_wait_not_a_hang()
    {
        // Hold the (test-private) xtables lock for longer than the whole test may take.
        using var holder = Process.Start(new ProcessStartInfo("flock", [LockFile, "sleep", "30"]) { UseShellExecute = false })!;
        try
        {
            Assert.That(NodeAndPeer.Poll(() => File.Exists(LockFile), TimeSpan.FromSeconds(5)), Is.Not.Null, "flock did not take the lock");
            Thread.Sleep(200);
            var iptables = new FlannelIptables(NullLogger.Instance, Tools(lockWait: TimeSpan.FromSeconds(1), timeout: TimeSpan.FromSeconds(10)));
            var sw = Stopwatch.StartNew();
            var e = Assert.Throws<ControlException>(() => iptables.Start(Network, Subnet, forward: true, masquerade: false, randomFully: true, TimeSpan.FromSeconds(5)))!;
            TestContext.Out.WriteLine($"after {sw.Elapsed.TotalSeconds:F1} s: {e.Message}");
            Assert.That(e.Message, Does.Contain("xtables lock"));
            // Every call waits at most 1 s for the lock; a start makes a handful of calls. A hang would take 30 s.
            Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
            Assert.That(Save("filter"), Does.Not.Contain("FLANNEL-FWD"), "nothing half-built");
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit();
        }
    }

    [Test]
    public void A_hung_iptables_is_killed_at_the_process_timeout_with_a_clear_error()
    {
        var hung = _dir.Write("hung-iptables", "#!/bin/sh\nexec sleep 60\n");
        File.SetUnixFileMode(hung, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var iptables = new FlannelIptables(NullLogger.Instance, new IptablesTools(hung, hung, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), []));
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<ControlException>(() => iptables.Start(Network, Subnet, forward: true, masquerade: false, randomFully: true, TimeSpan.FromSeconds(5)))!;
        TestContext.Out.WriteLine($"after {sw.Elapsed.TotalSeconds:F1} s: {e.Message}");
        Assert.That(e.Message, Does.Contain("did not finish within 2 s"));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(Sh.Run("pgrep", ["-f", hung]).ExitCode, Is.Not.Zero, "the hung process was killed");
    }
}
