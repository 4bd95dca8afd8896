using System.Net;
using System.Net.Sockets;
using Dataplane.Tun;
using PacketDotNet;

namespace Control.Tests.EndToEnd;

/// <summary>
/// The node's data path against a flannel-shaped peer built from the documented wire format (reference/flannel.md
/// §1.1/§1.2): a plain UDP socket on 198.18.0.2:8285 whose payloads are bare IPv4 packets.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class FlannelPeerInteropTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Test]
    public void Node_traffic_reaches_the_peer_as_the_bare_ipv4_packet_from_port_8285_with_ttl_minus_one()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        world.StartDaemon();

        var sender = world.UdpSocket(world.Node);
        sender.Ttl = 50;
        var payload = "flannel-udp e2e: bare IPv4 in UDP"u8.ToArray();
        sender.SendTo(payload, new IPEndPoint(NodeAndPeer.PeerPod, 9999));
        var senderPort = (ushort)((IPEndPoint)sender.LocalEndPoint!).Port;

        var got = NodeAndPeer.Receive(peer, Wait);
        Assert.That(got, Is.Not.Null, "the peer received nothing");
        var (datagram, from) = got!.Value;
        Assert.That(from, Is.EqualTo(new IPEndPoint(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port)), "outer source is IfaceAddr:8285");

        var ip = OverlayPackets.Parse(datagram);
        Assert.Multiple(() =>
        {
            Assert.That(datagram[0], Is.EqualTo(0x45), "the payload starts at the IPv4 header (no flannel header, no PI)");
            Assert.That(ip.TotalLength, Is.EqualTo(datagram.Length), "payload is exactly one IPv4 packet");
            Assert.That(ip.TimeToLive, Is.EqualTo(49), "TTL decremented by one on send");
            Assert.That(ip.ValidIPChecksum, Is.True, "header checksum patched after the TTL change");
            Assert.That(ip.SourceAddress, Is.EqualTo(world.OwnTunAddress));
            Assert.That(ip.DestinationAddress, Is.EqualTo(NodeAndPeer.PeerPod));
            Assert.That(ip.Protocol, Is.EqualTo(PacketDotNet.ProtocolType.Udp));
        });
        var udp = (UdpPacket)ip.PayloadPacket;
        Assert.Multiple(() =>
        {
            Assert.That(udp.SourcePort, Is.EqualTo(senderPort));
            Assert.That(udp.DestinationPort, Is.EqualTo(9999));
            Assert.That(udp.PayloadData, Is.EqualTo(payload));
            Assert.That(udp.ValidUdpChecksum, Is.True, "inner checksums are never touched");
        });
    }

    [Test]
    public void Outer_datagram_has_df_set_as_flannels_socket_does()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        world.StartDaemon();
        using var capture = new PacketCapture(world.Peer, "eth0", $"udp and src host {NodeAndPeer.NodeIp} and src port {NodeAndPeer.Port}", verbose: true);

        var sender = world.UdpSocket(world.Node);
        sender.SendTo(OverlayPackets.Filler(1472 - 28), new IPEndPoint(NodeAndPeer.PeerPod, 9999)); // the largest inner packet
        var got = NodeAndPeer.Receive(peer, Wait);
        Assert.That(got, Is.Not.Null, "the peer received nothing");
        Assert.That(got!.Value.Data, Has.Length.EqualTo(1472), "a full-MTU inner packet travels whole (1500-byte outer datagram)");
        Thread.Sleep(200);
        var lines = capture.Stop();
        TestContext.Out.WriteLine(string.Join('\n', lines));
        // The kernel default IP_PMTUDISC_WANT (flannel never sets IP_MTU_DISCOVER) puts DF on datagrams that fit.
        Assert.That(lines, Has.Some.Contains("flags [DF]").And.Some.Contains("length 1500"), "outer header as captured on the wire");
    }

    [Test]
    public void Ping_from_the_node_reaches_the_peer_as_icmp_echo_with_ttl_minus_one()
    {
        Dataplane.Testing.Prerequisites.RequireTool("ping");
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        world.StartDaemon();

        // ping exits non-zero (nobody answers); only what reached the peer matters.
        Dataplane.Testing.NetnsScope.TryExec(world.Node, $"ping -c1 -W1 -t 50 {NodeAndPeer.PeerPod}");
        var got = NodeAndPeer.Receive(peer, Wait);
        Assert.That(got, Is.Not.Null, "the peer received nothing");
        var ip = OverlayPackets.Parse(got!.Value.Data);
        Assert.Multiple(() =>
        {
            Assert.That(ip.TimeToLive, Is.EqualTo(49));
            Assert.That(ip.ValidIPChecksum, Is.True);
            Assert.That(ip.DestinationAddress, Is.EqualTo(NodeAndPeer.PeerPod));
            Assert.That(ip.PayloadPacket, Is.InstanceOf<IcmpV4Packet>());
            Assert.That(((IcmpV4Packet)ip.PayloadPacket).TypeCode, Is.EqualTo(IcmpV4TypeCode.EchoRequest));
        });
    }

    [Test]
    public void Echo_request_from_the_peer_is_answered_by_the_node_and_the_reply_comes_back_encapsulated()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        world.StartDaemon();

        var data = OverlayPackets.Filler(56);
        var request = OverlayPackets.EchoRequest(NodeAndPeer.PeerPod, world.OwnTunAddress, id: 0x4242, sequence: 7, data, ttl: 64);
        peer.SendTo(request, new IPEndPoint(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port));

        var seen = new List<string>();
        IPv4Packet? reply = null;
        var deadline = DateTime.UtcNow + Wait;
        while (reply is null && DateTime.UtcNow < deadline && NodeAndPeer.Receive(peer, deadline - DateTime.UtcNow) is { } got)
        {
            var ip = OverlayPackets.Parse(got.Data);
            seen.Add(ip.ToString());
            if (ip.PayloadPacket is IcmpV4Packet { TypeCode: IcmpV4TypeCode.EchoReply } && got.From.Port == NodeAndPeer.Port)
                reply = ip;
        }
        Assert.That(reply, Is.Not.Null, "no echo reply reached the peer; saw: " + string.Join("; ", seen));
        var icmp = (IcmpV4Packet)reply!.PayloadPacket;
        Assert.Multiple(() =>
        {
            Assert.That(reply.SourceAddress, Is.EqualTo(world.OwnTunAddress));
            Assert.That(reply.DestinationAddress, Is.EqualTo(NodeAndPeer.PeerPod));
            Assert.That(reply.TimeToLive, Is.EqualTo(63), "the node's stack sends 64; our send side takes one");
            Assert.That(reply.ValidIPChecksum, Is.True);
            Assert.That(icmp.Id, Is.EqualTo(0x4242));
            Assert.That(icmp.Sequence, Is.EqualTo(7));
            Assert.That(icmp.Data, Is.EqualTo(data));
            Assert.That(icmp.ValidIcmpChecksum, Is.True);
        });
    }
}
