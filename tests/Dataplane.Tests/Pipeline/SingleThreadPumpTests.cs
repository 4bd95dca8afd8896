using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tests.Fakes;

namespace Dataplane.Tests.Pipeline;

/// <summary>The single-threaded engine (flannel's loop) moves both directions and stops promptly.</summary>
public class SingleThreadPumpTests
{
    /// <summary>Readiness over the in-memory fakes: poll every millisecond until something is pending.</summary>
    private sealed class FakeWaiter(ChannelTunDevice tun, InMemoryUnderlay udp) : IReadinessWaiter
    {
        private volatile bool _cancelled;
        public int Waits;

        public bool WaitReadable()
        {
            Interlocked.Increment(ref Waits);
            while (!_cancelled)
            {
                if (tun.Pending > 0 || udp.Pending > 0)
                    return true;
                Thread.Sleep(1);
            }
            return false;
        }

        public void Cancel() => _cancelled = true;
    }

    [Test]
    public void BothDirections_OnOneThread()
    {
        var net = new InMemoryNetwork();
        var tunA = new ChannelTunDevice();
        var tunB = new ChannelTunDevice();
        var udpA = net.Bind("198.18.0.1", 8285);
        var udpB = net.Bind("198.18.0.2", 8285);
        var tableA = new ForwardingTable();
        var tableB = new ForwardingTable();
        tableA.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(udpB.Local, EncapsulationKind.FlannelUdp))]);
        tableB.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.1.0/24"), new NextHop(udpA.Local, EncapsulationKind.FlannelUdp))]);
        var waiterA = new FakeWaiter(tunA, udpA);
        var waiterB = new FakeWaiter(tunB, udpB);
        var a = new DataplaneEngine(tunA, [new UnderlayBinding(new FlannelUdpEncapsulation(1472), udpA)], tableA, null, new DropCounters(), singleThread: waiterA);
        var b = new DataplaneEngine(tunB, [new UnderlayBinding(new FlannelUdpEncapsulation(1472), udpB)], tableB, null, new DropCounters(), singleThread: waiterB);
        a.Start();
        b.Start();
        try
        {
            for (int i = 0; i < 100; i++)
                tunA.Inject(PacketFactory.Ping());
            for (int i = 0; i < 100; i++)
                Assert.That(tunB.NextWritten(), Is.Not.Null, $"packet {i} A -> B");
            tunB.Inject(PacketFactory.Udp(src: PacketFactory.PodB, dst: PacketFactory.PodA));
            Assert.That(tunA.NextWritten(), Is.Not.Null, "B -> A");
            Assert.That(a.Outbound.Sent.Packets, Is.EqualTo(100));
            Assert.That(waiterA.Waits, Is.GreaterThan(0), "it sleeps in the waiter when idle");
        }
        finally
        {
            Assert.That(a.Stop(TimeSpan.FromSeconds(2)), Is.True);
            Assert.That(b.Stop(TimeSpan.FromSeconds(2)), Is.True);
        }
    }
}
