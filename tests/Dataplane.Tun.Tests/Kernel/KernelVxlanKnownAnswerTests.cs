using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Testing;
using PacketDotNet;

namespace Dataplane.Tun.Tests.Kernel;

/// <summary>
/// Known answers from the real kernel: an inner packet goes through a kernel VXLAN device programmed as flanneld
/// programs flannel.1, the datagram is captured on the underlay, and our encapsulation of the same inner packet
/// must give the same UDP payload bytes. The outer header the kernel builds is recorded too, since our UDP socket
/// must reproduce it (DF clear, TTL 64, checksum computed, TOS from the inner ECN bits).
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class KernelVxlanKnownAnswerTests
{
    [SetUp]
    public void Require()
    {
        Prerequisites.RequireNetns();
        Prerequisites.RequireTool("tcpdump");
        Prerequisites.RequireTool("ping");
        Prerequisites.RequireTool("ethtool");
        Prerequisites.RequireTool("bridge");
    }

    [Test]
    public void KernelPayload_EqualsOurs_ForEveryEcnCodepoint()
    {
        using var lab = new KernelVxlanLab();
        // One echo request per ECN codepoint (ping -Q sets the whole TOS byte, ECN bits included).
        int[] tosValues = [0x00, 0x01, 0x02, 0x03, 0xB8];
        using var capture = PcapCapture.Start(lab.Peer, "eth0", "udp dst port 8472", tosValues.Length, TimeSpan.FromSeconds(8));
        foreach (var tos in tosValues)
            NetnsScope.TryExec(lab.Node, $"ping -c 1 -W 0.3 -Q {tos} -s 64 10.244.2.7", TimeSpan.FromSeconds(5));
        var frames = capture.Finish();
        Assert.That(frames, Has.Count.EqualTo(tosValues.Length), "one VXLAN datagram per ping");

        var ours = new VxlanEncapsulation(1, KernelVxlanLab.KernelMac, 1450);
        var nextHop = new NextHop(new UnderlayEndpoint(Ipv4Address.Parse(KernelVxlanLab.PeerUnderlay), 8472), EncapsulationKind.Vxlan, KernelVxlanLab.PeerMac, 1);
        for (int i = 0; i < frames.Count; i++)
        {
            var ip = frames[i].Extract<IPv4Packet>();
            var udp = frames[i].Extract<UdpPacket>();
            byte[] kernelPayload = udp.PayloadData;
            byte[] inner = kernelPayload[22..];
            TestContext.Out.WriteLine($"tos {tosValues[i]:x2}: outer tos {ip.TypeOfService:x2} ttl {ip.TimeToLive} flags {ip.FragmentFlags} sport {udp.SourcePort} csum {udp.Checksum:x4} payload {Convert.ToHexString(kernelPayload[..22])}");

            var buf = new PacketBuffer(2048);
            buf.Load(inner);
            Assert.That(ours.Encapsulate(buf, nextHop), Is.EqualTo(DropReason.None));
            Assert.That(Convert.ToHexString(buf.Data), Is.EqualTo(Convert.ToHexString(kernelPayload)), "our VXLAN payload equals the kernel's");

            Assert.Multiple(() =>
            {
                Assert.That(ip.TypeOfService, Is.EqualTo(buf.OuterTos), "outer TOS: ip_tunnel_ecn_encap of the inner TOS");
                Assert.That(ip.TimeToLive, Is.EqualTo(64), "outer TTL 64");
                Assert.That(ip.FragmentFlags & 0x2, Is.Zero, "outer DF clear");
                Assert.That(udp.DestinationPort, Is.EqualTo(8472));
                Assert.That(udp.SourcePort, Is.InRange(32768, 60999), "source port from ip_local_port_range");
                Assert.That(udp.Checksum, Is.Not.Zero, "flannel.1 sends a UDP checksum (udpcsum)");
                Assert.That(udp.ValidUdpChecksum, Is.True);
            });
        }
    }

    [Test]
    public void KernelWithNoUdpCsum_SendsZeroChecksum_AndTheSamePayload()
    {
        using var lab = new KernelVxlanLab(udpChecksum: false);
        using var capture = PcapCapture.Start(lab.Peer, "eth0", "udp dst port 8472", 1, TimeSpan.FromSeconds(6));
        NetnsScope.TryExec(lab.Node, "ping -c 1 -W 0.3 -s 200 10.244.2.9", TimeSpan.FromSeconds(5));
        var frames = capture.Finish();
        Assert.That(frames, Has.Count.EqualTo(1));
        var udp = frames[0].Extract<UdpPacket>();
        Assert.That(udp.Checksum, Is.Zero);

        var buf = new PacketBuffer(2048);
        buf.Load(udp.PayloadData.AsSpan(22));
        new VxlanEncapsulation(1, KernelVxlanLab.KernelMac, 1450).Encapsulate(buf,
            new NextHop(default, EncapsulationKind.Vxlan, KernelVxlanLab.PeerMac, 1));
        Assert.That(buf.Data.ToArray(), Is.EqualTo(udp.PayloadData));
    }
}
