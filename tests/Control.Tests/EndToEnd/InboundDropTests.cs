using System.Net;
using System.Net.Sockets;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Datagrams the node must not deliver: expired TTL, larger than the TUN MTU, from an address holding no lease, inner
/// packets a peer may not inject (to the node's own addresses, from sources that are not the peer's).
/// Each test also delivers a good datagram over the same path, so "nothing arrived" cannot pass by accident.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class InboundDropTests
{
    private const ushort ListenPort = 7777;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly IPEndPoint NodeFlannel = new(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port);

    [Test]
    public void Inner_ttl_1_is_dropped_as_ttl_expired_and_ttl_2_is_delivered()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon();
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "ttl1"u8.ToArray(), ttl: 1), NodeFlannel);
        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "ttl2"u8.ToArray(), ttl: 2), NodeFlannel);

        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).ToList();
        Assert.That(received, Is.EqualTo(new[] { "ttl2" }), "only the TTL 2 datagram is delivered (TTL 1 − 1 = 0 is expired)");

        var summary = Stop(daemon);
        Assert.That(summary.Dropped("TtlExpired"), Is.EqualTo(1), daemon.Log);
        Assert.That(summary.Delivered, Is.EqualTo(1), daemon.Log);
    }

    [Test]
    public void Datagram_above_the_tun_mtu_is_counted_too_big_and_never_delivered_truncated()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        peer.DontFragment = false; // let the peer's kernel fragment the 2000-byte datagram on the 1500-byte veth
        var daemon = world.StartDaemon();
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        peer.SendTo(OverlayPackets.UdpOfLength(NodeAndPeer.PeerPod, world.OwnTunAddress, ListenPort, 2000), NodeFlannel);
        peer.SendTo(OverlayPackets.UdpOfLength(NodeAndPeer.PeerPod, world.OwnTunAddress, ListenPort, 1473), NodeFlannel);
        peer.SendTo(OverlayPackets.UdpOfLength(NodeAndPeer.PeerPod, world.OwnTunAddress, ListenPort, 1472), NodeFlannel);

        var received = NodeAndPeer.Drain(listener, Wait);
        Assert.That(received.Select(r => r.Length), Is.EqualTo(new[] { 1472 - 28 }),
            "only the packet that fits the TUN MTU (1472) arrives, whole");
        Assert.That(received[0], Is.EqualTo(OverlayPackets.Filler(1472 - 28)));

        var summary = Stop(daemon);
        Assert.That(summary.Dropped("TooBig"), Is.EqualTo(2), "2000 (reassembled from fragments) and 1473 bytes:\n" + daemon.Log);
        Assert.That(summary.Delivered, Is.EqualTo(1), daemon.Log);
    }

    [Test]
    public void Datagrams_from_an_address_without_a_lease_are_dropped_with_one_loud_warning()
    {
        using var world = new NodeAndPeer();
        NetnsScope.Exec(world.Peer, "ip addr add 198.18.0.3/24 dev eth0");
        var peer = world.PeerFlannelSocket();
        var stranger = world.UdpSocket(world.Peer, "198.18.0.3", NodeAndPeer.Port);
        var daemon = world.StartDaemon();
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        for (int i = 0; i < 3; i++)
            stranger.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "stranger"u8.ToArray()), NodeFlannel);
        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "leased"u8.ToArray()), NodeFlannel);

        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).ToList();
        Assert.That(received, Is.EqualTo(new[] { "leased" }));
        var summary = Stop(daemon);
        Assert.That(summary.Dropped("UnknownSource"), Is.EqualTo(3), daemon.Log);
        var warnings = daemon.Log.Split('\n').Where(l => l.Contains("--accept-unknown-peers", StringComparison.Ordinal)).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), "exactly one warning for one stranger:\n" + daemon.Log);
        Assert.That(warnings[0], Does.Contain("198.18.0.3"));
    }

    [Test]
    public void Accept_unknown_peers_delivers_datagrams_from_an_address_without_a_lease()
    {
        using var world = new NodeAndPeer();
        NetnsScope.Exec(world.Peer, "ip addr add 198.18.0.3/24 dev eth0");
        var stranger = world.UdpSocket(world.Peer, "198.18.0.3", NodeAndPeer.Port);
        var daemon = world.StartDaemon("--accept-unknown-peers");
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        stranger.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "stranger"u8.ToArray()), NodeFlannel);
        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).ToList();
        Assert.That(received, Is.EqualTo(new[] { "stranger" }));
        var summary = Stop(daemon);
        Assert.That(summary.Dropped("UnknownSource"), Is.Zero);
        Assert.That(daemon.Log, Does.Not.Contain("no lease holds that address"));
    }

    [Test]
    public void A_peer_cannot_reach_the_nodes_own_services_nor_spoof_sources_outside_its_subnet()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon();
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        // The node's own underlay address as inner destination: a service listening on 0.0.0.0 would answer it.
        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, IPAddress.Parse(NodeAndPeer.NodeIp), 5000, ListenPort, "to-host"u8.ToArray()), NodeFlannel);
        // Inner sources the peer does not own: an internet address, another node's pod subnet, our own subnet.
        peer.SendTo(OverlayPackets.Udp(IPAddress.Parse("192.0.2.7"), world.OwnTunAddress, 5000, ListenPort, "spoof-internet"u8.ToArray()), NodeFlannel);
        peer.SendTo(OverlayPackets.Udp(IPAddress.Parse("10.244.77.3"), world.OwnTunAddress, 5000, ListenPort, "spoof-other-node"u8.ToArray()), NodeFlannel);
        // Allowed: the peer's pods, and the peer host itself (its PublicIP) talking to our TUN address.
        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "pod"u8.ToArray()), NodeFlannel);
        peer.SendTo(OverlayPackets.Udp(IPAddress.Parse(NodeAndPeer.PeerIp), world.OwnTunAddress, 5000, ListenPort, "peer-host"u8.ToArray()), NodeFlannel);

        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).OrderBy(x => x, StringComparer.Ordinal).ToList();
        Assert.That(received, Is.EqualTo(new[] { "peer-host", "pod" }));
        var summary = Stop(daemon);
        Assert.That(summary.Dropped("InnerDestinationNotLocal"), Is.EqualTo(1), daemon.Log);
        Assert.That(summary.Dropped("InnerSourceNotPeer"), Is.EqualTo(2), daemon.Log);
    }

    [Test]
    public void Accept_unknown_peers_also_turns_the_inner_checks_off()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon("--accept-unknown-peers");
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);
        peer.SendTo(OverlayPackets.Udp(IPAddress.Parse("192.0.2.7"), world.OwnTunAddress, 5000, ListenPort, "spoof-internet"u8.ToArray()), NodeFlannel);
        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).ToList();
        Assert.That(received, Is.EqualTo(new[] { "spoof-internet" }), "the single documented escape hatch (flannel's behaviour)");
        Assert.That(Stop(daemon).Dropped("InnerSourceNotPeer"), Is.Zero);
    }

    [TestCase("batch")]
    [TestCase("per-packet")]
    public void A_partial_inner_checksum_is_completed_and_a_corrupt_one_still_dropped(string io)
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon("--io", io);
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);

        // What a kernel peer on a virtual underlay hands over: the UDP checksum field holds the folded pseudo-header sum
        // (CHECKSUM_PARTIAL, never finished). And a corrupt one: a wrong checksum that is not that sum either.
        var partial = OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "partial"u8.ToArray());
        SetUdpChecksum(partial, PseudoHeaderFold(partial));
        var corrupt = OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "corrupt"u8.ToArray());
        corrupt[^1] ^= 0x55;
        peer.SendTo(partial, NodeFlannel);
        peer.SendTo(corrupt, NodeFlannel);
        peer.SendTo(OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, "good"u8.ToArray()), NodeFlannel);

        var received = NodeAndPeer.Drain(listener, Wait).Select(System.Text.Encoding.ASCII.GetString).OrderBy(x => x, StringComparer.Ordinal).ToList();
        Assert.That(received, Is.EqualTo(new[] { "good", "partial" }), "the partial sum is finished (or passed on as NEEDS_CSUM); the corrupt one never reaches the socket");
        Stop(daemon);
    }

    private static ushort PseudoHeaderFold(byte[] ipv4Udp)
    {
        int ihl = (ipv4Udp[0] & 0xF) * 4;
        int l4 = ipv4Udp.Length - ihl;
        ulong sum = 0;
        for (int i = 12; i < 20; i += 2)
            sum += (ulong)(ipv4Udp[i] << 8 | ipv4Udp[i + 1]);
        sum += 17;
        sum += (ulong)l4;
        while (sum > 0xFFFF)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static void SetUdpChecksum(byte[] ipv4Udp, ushort value)
    {
        int at = (ipv4Udp[0] & 0xF) * 4 + 6;
        ipv4Udp[at] = (byte)(value >> 8);
        ipv4Udp[at + 1] = (byte)value;
    }

    private static ShutdownSummary Stop(NamespacedDaemon daemon)
    {
        daemon.Signal("TERM");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(15)), Is.True, daemon.Log);
        return ShutdownSummary.From(daemon.Log);
    }
}
