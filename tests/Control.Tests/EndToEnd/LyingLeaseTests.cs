using System.Net;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Peer leases that lie (issue 13 §2), through the real daemon in namespaces: never routed, and never a peer for the
/// stranger check (the peer set is derived from the routes), whatever the store says.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class LyingLeaseTests
{
    private const ushort ListenPort = 7777;
    private const string Liar = "198.18.0.3";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private static readonly IPEndPoint NodeFlannel = new(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port);

    [Test]
    public void Lying_leases_are_ignored_with_one_warning_each_and_their_holders_stay_strangers()
    {
        using var world = new NodeAndPeer();
        NetnsScope.Exec(world.Peer, $"ip addr add {Liar}/24 dev eth0");
        var subnets = Path.Combine(world.LeaseDir, "subnets");
        // Written by hand (no .meta): static reservations, as an operator or a forger would leave them.
        File.WriteAllText(Path.Combine(subnets, "10.245.0.0-24"), $$"""{"PublicIP":"{{Liar}}","PublicIPv6":null}""");        // outside the Network
        File.WriteAllText(Path.Combine(subnets, "10.244.9.0-24"), """{"PublicIP":"127.0.0.1","PublicIPv6":null}""");          // loopback
        // Two reservations for our own address: we reuse the first (flannel's findLeaseByIP); the second claims to be
        // a peer at our own address.
        File.WriteAllText(Path.Combine(subnets, "10.244.10.0-24"), $$"""{"PublicIP":"{{NodeAndPeer.NodeIp}}","PublicIPv6":null}""");
        File.WriteAllText(Path.Combine(subnets, "10.244.11.0-24"), $$"""{"PublicIP":"{{NodeAndPeer.NodeIp}}","PublicIPv6":null}""");
        var peer = world.PeerFlannelSocket();
        var liar = world.UdpSocket(world.Peer, Liar, NodeAndPeer.Port);
        var daemon = world.StartDaemon();
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        Assert.That(world.OwnSubnet.ToString(), Is.EqualTo("10.244.10.0/24"));
        foreach (var subnet in new[] { "10.245.0.0/24", "10.244.9.0/24", "10.244.11.0/24" })
        {
            Assert.That(daemon.Log.Split('\n').Count(l => l.Contains($"Ignoring peer lease {subnet}", StringComparison.Ordinal)), Is.EqualTo(1), daemon.Log);
            Assert.That(daemon.HasLog($"route add {subnet}"), Is.False, daemon.Log);
        }
        liar.SendTo(Datagram(world, "liar"), NodeFlannel);
        peer.SendTo(Datagram(world, "peer"), NodeFlannel);
        Assert.That(Received(listener), Is.EqualTo(new[] { "peer" }), "only the honest peer gets through");

        // A forged lease inside the honest peer's subnet: overlapping leases are all refused (fail closed), so the
        // peer's route goes and its datagrams are strangers' until the forgery is removed.
        var forged = Path.Combine(subnets, "10.244.2.128-25");
        File.WriteAllText(forged, $$"""{"PublicIP":"{{Liar}}","PublicIPv6":null}""");
        Assert.That(daemon.WaitForLog($"route del {NodeAndPeer.PeerSubnet}", TimeSpan.FromSeconds(5)), Is.True, daemon.Log);
        Assert.That(daemon.HasLog("route add 10.244.2.128/25"), Is.False, daemon.Log);
        liar.SendTo(Datagram(world, "liar"), NodeFlannel);
        peer.SendTo(Datagram(world, "peer while disputed"), NodeFlannel);
        Assert.That(Received(listener), Is.Empty);

        File.Delete(forged);
        Assert.That(NodeAndPeer.Poll(() => daemon.Log.Split('\n').Count(l => l.Contains($"route add {NodeAndPeer.PeerSubnet}", StringComparison.Ordinal)) == 2,
            TimeSpan.FromSeconds(5)), Is.Not.Null, daemon.Log);
        peer.SendTo(Datagram(world, "peer again"), NodeFlannel);
        Assert.That(Received(listener), Is.EqualTo(new[] { "peer again" }));

        daemon.Signal("TERM");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(15)), Is.True, daemon.Log);
        var summary = ShutdownSummary.From(daemon.Log);
        Assert.That(summary.Dropped("UnknownSource"), Is.EqualTo(3), "liar twice, the disputed peer once:\n" + daemon.Log);
        Assert.That(summary.Delivered, Is.EqualTo(2), daemon.Log);
    }

    private static byte[] Datagram(NodeAndPeer world, string text) =>
        OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, System.Text.Encoding.ASCII.GetBytes(text));

    private static List<string> Received(System.Net.Sockets.Socket listener) =>
        NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).ToList();
}
