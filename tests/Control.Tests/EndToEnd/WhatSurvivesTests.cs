using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Issue 13 §4, "decide what survives": however the daemon ends (SIGTERM, SIGKILL, a fatal watchdog condition), the node
/// is left in one state: the TUN, its address and route gone (the process owned them); the guard route, flanneld's
/// iptables chains, our lease and subnet.env in place. A restart after each ending takes the same lease and restores
/// the route. The README's "What survives a stop, a crash and a restart" states the same.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class WhatSurvivesTests
{
    [Test]
    public void Sigterm_sigkill_and_a_fatal_exit_leave_the_same_state_and_a_restart_takes_the_same_lease()
    {
        Prerequisites.RequireTool("iptables");
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();
        var subnet = world.OwnSubnet;
        var subnetEnv = File.ReadAllText(world.SubnetFile);
        var leaseFile = Path.Combine(world.LeaseDir, "subnets", $"{subnet.Address}-{subnet.Length}");
        Assert.That(File.Exists(leaseFile), Is.True, "our lease file");

        (string Name, Action End, int ExitCode)[] endings =
        [
            ("SIGTERM", () => daemon.Signal("TERM"), 0),
            ("SIGKILL", () => daemon.Signal("KILL"), 128 + 9), // ip netns exec execs the daemon in place: .NET reports 128 + signal
            // The watchdog's fatal path: exit 1 from its thread, no clean-up code runs.
            ("TUN deleted (watchdog exit)", () => NetnsScope.Exec(world.Node, "ip link del flannel0"), 1),
        ];
        foreach (var (name, end, exitCode) in endings)
        {
            end();
            Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(10)), Is.True, $"{name}: daemon did not exit:\n{daemon.Log}");
            Assert.That(daemon.Process.ExitCode, Is.EqualTo(exitCode), $"{name}:\n{daemon.Log}");
            var gone = NodeAndPeer.Poll(() => !NodeAndPeer.LinkExists(world.Node, "flannel0"), TimeSpan.FromSeconds(5));
            TestContext.Out.WriteLine($"{name}: exit {daemon.Process.ExitCode}; routes {string.Join(", ", NodeAndPeer.NetworkRoutes(world.Node))}");
            Assert.That(gone, Is.Not.Null, $"{name}: the TUN outlived the process");
            Assert.That(NodeAndPeer.NetworkRoutes(world.Node), Is.EqualTo(new[] { "unreachable dev=- metric=1000" }), $"{name}: only the guard remains for Network");
            Assert.That(NetnsScope.Exec(world.Node, "iptables -S FLANNEL-FWD"), Does.Contain($"-s {NodeAndPeer.Network}"), $"{name}: FLANNEL-FWD stays");
            Assert.That(File.Exists(leaseFile), Is.True, $"{name}: the lease stays (a restart renews it)");
            Assert.That(File.ReadAllText(world.SubnetFile), Is.EqualTo(subnetEnv), $"{name}: subnet.env stays");

            daemon = world.StartDaemon();
            Assert.That(world.OwnSubnet, Is.EqualTo(subnet), $"after {name}: same lease");
            Assert.That(NodeAndPeer.HasTunRoute(world.Node) && NodeAndPeer.HasGuardRoute(world.Node), Is.True, $"after {name}: routes back");
        }
    }
}
