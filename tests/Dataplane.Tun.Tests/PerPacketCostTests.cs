using Dataplane.Devices;
using System.Diagnostics;
using Dataplane.Buffers;
using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

/// <summary>
/// Rough per-syscall cost of the per-packet I/O mode, measured in namespaces (veth underlay, TUN). Bounded
/// loops; the numbers are printed for the record and only checked against a very generous ceiling.
/// </summary>
[Category("Privileged")]
[Category("Measure")]
public class PerPacketCostTests
{
    private const int Rounds = 20;
    private const int Burst = 400; // below the TUN's default txqueuelen (500) and the socket buffers

    [Test]
    public void Tun_ReadAndWrite_MicrosecondsPerPacket()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var tun = TunTestNet.FlannelTun(ns);
        // A sender inside the namespace whose datagrams route into the TUN (10.244.0.0/16 dev flannel0).
        using var sender = NetworkNamespace.Run(ns, () => UdpUnderlay.Open(new UdpUnderlayOptions
        {
            LocalEndpoint = new UnderlayEndpoint(TunTestNet.TunAddress, 0),
            SendBufferSize = 4 << 20,
        }));
        var packet = new PacketBuffer(2048) { Peer = new UnderlayEndpoint(Ipv4Address.Parse("10.244.5.7"), 9) };
        packet.Load(new byte[1400]);
        var read = new PacketBuffer(2048);
        Drain(tun, read);

        long readTicks = 0;
        int reads = 0;
        for (int round = 0; round < Rounds; round++)
        {
            for (int i = 0; i < Burst; i++)
                Assert.That(sender.Send(packet).IsOk);
            var sw = Stopwatch.StartNew();
            while (true)
            {
                read.Reset();
                if (!tun.TryRead(read).IsOk)
                    break;
                reads++;
            }
            readTicks += sw.ElapsedTicks;
        }

        // Writes: a 1400-byte UDP packet from a remote pod to a port nobody listens on, through the
        // namespace's stack (the cost includes the kernel receive path, as in the real pump).
        var inbound = new PacketBuffer(2048);
        inbound.Load(TestPackets.Udp(Ipv4Address.Parse("10.244.5.7"), TunTestNet.TunAddress, 9, 9, new byte[1372]));
        const int writes = Rounds * Burst;
        var ws = Stopwatch.StartNew();
        for (int i = 0; i < writes; i++)
            Assert.That(tun.Write(inbound).IsOk);
        ws.Stop();

        double readUs = readTicks * 1e6 / Stopwatch.Frequency / Math.Max(1, reads);
        double writeUs = ws.Elapsed.TotalMicroseconds / writes;
        TestContext.Out.WriteLine($"TUN read: {readUs:F2} µs/packet over {reads} packets; TUN write: {writeUs:F2} µs/packet over {writes} packets (1400-byte packets)");
        Assert.That(reads, Is.GreaterThan(Rounds * Burst / 2), "most datagrams must have reached the TUN");
        Assert.That(readUs, Is.LessThan(500));
        Assert.That(writeUs, Is.LessThan(500));
    }

    [Test]
    public void Udp_SendToAndRecvFrom_MicrosecondsPerDatagram()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sa = NetworkNamespace.Run(a, () => UdpUnderlay.Open(new UdpUnderlayOptions { LocalEndpoint = new UnderlayEndpoint(TunTestNet.NodeA, 8285) }));
        using var sb = NetworkNamespace.Run(b, () => UdpUnderlay.Open(new UdpUnderlayOptions
        {
            LocalEndpoint = new UnderlayEndpoint(TunTestNet.NodeB, 8285),
            ReceiveBufferSize = 8 << 20,
        }));
        var packet = new PacketBuffer(2048) { Peer = sb.LocalEndpoint };
        packet.Load(new byte[1400]);
        var receive = new PacketBuffer(2048);

        long sendTicks = 0, receiveTicks = 0, tosTicks = 0;
        int sent = 0, received = 0, sentTos = 0;
        for (int round = 0; round < Rounds; round++)
        {
            bool withTos = round % 2 == 1;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < Burst; i++)
                Assert.That((withTos ? sa.Send(packet, 0x02) : sa.Send(packet)).IsOk);
            if (withTos)
            {
                tosTicks += sw.ElapsedTicks;
                sentTos += Burst;
            }
            else
            {
                sendTicks += sw.ElapsedTicks;
                sent += Burst;
            }
            Thread.Sleep(5); // let the veth backlog deliver everything to b's socket
            var rs = Stopwatch.StartNew();
            while (true)
            {
                receive.Reset();
                if (!sb.TryReceive(receive).IsOk)
                    break;
                received++;
            }
            receiveTicks += rs.ElapsedTicks;
        }
        double sendUs = sendTicks * 1e6 / Stopwatch.Frequency / sent;
        double tosUs = tosTicks * 1e6 / Stopwatch.Frequency / sentTos;
        double receiveUs = receiveTicks * 1e6 / Stopwatch.Frequency / Math.Max(1, received);
        TestContext.Out.WriteLine($"UDP sendto: {sendUs:F2} µs; sendmsg+IP_TOS: {tosUs:F2} µs; recvfrom: {receiveUs:F2} µs per 1400-byte datagram ({received}/{sent + sentTos} received, veth between namespaces)");
        Assert.That(received, Is.GreaterThan((sent + sentTos) / 2));
        Assert.That(sendUs, Is.LessThan(500));
        Assert.That(receiveUs, Is.LessThan(500));
    }

    [Test]
    public void PerPacketPaths_DoNotAllocate()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var tun = TunTestNet.FlannelTun(a);
        using var sa = NetworkNamespace.Run(a, () => UdpUnderlay.Open(new UdpUnderlayOptions { LocalEndpoint = new UnderlayEndpoint(TunTestNet.NodeA, 8285) }));
        using var sb = NetworkNamespace.Run(b, () => UdpUnderlay.Open(new UdpUnderlayOptions { LocalEndpoint = new UnderlayEndpoint(TunTestNet.NodeB, 8285), ReceiveBufferSize = 4 << 20 }));
        var packet = new PacketBuffer(2048) { Peer = sb.LocalEndpoint };
        packet.Load(new byte[1000]);
        var inbound = new PacketBuffer(2048);
        inbound.Load(TestPackets.Udp(Ipv4Address.Parse("10.244.5.7"), TunTestNet.TunAddress, 9, 9, new byte[100]));
        var read = new PacketBuffer(2048);
        // The pumps' shape: one batch allocated once, refilled per send (the single-packet helpers allocate one per call).
        var batch = new DatagramBatch();
        void Send(byte tos)
        {
            packet.OuterTos = tos;
            batch.Clear();
            batch.TryAdd(packet);
            sa.Send(batch);
        }

        void Loop(int n)
        {
            for (int i = 0; i < n; i++)
            {
                Send(0);
                Send(0x01);
                read.Reset();
                sb.TryReceive(read);
                read.Reset();
                sb.TryReceive(read);
                tun.Write(inbound);
                read.Reset();
                tun.TryRead(read); // ICMP port unreachables (rate-limited) or WouldBlock
            }
        }

        Allocations.AssertSteadyStateAllocatesNothing(() => Loop(1000));
    }

    private static void Drain(LinuxTunDevice tun, PacketBuffer buffer)
    {
        for (int i = 0; i < 10_000; i++)
        {
            buffer.Reset();
            if (!tun.TryRead(buffer).IsOk)
                return;
        }
    }
}
