using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

/// <summary>
/// The benchmark's UDP generator and sink between two namespaces: every datagram the blaster reports sent arrives as a
/// separate datagram of the payload size, in far fewer syscalls than datagrams, and Udp InDatagrams counts them.
/// </summary>
[Category("Privileged")]
public class UdpBlasterTests
{
    private const ushort SinkPort = 5301;

    [Test, CancelAfter(30_000)]
    public void Blaster_SendsExactlyN_InBatches_AndTheSinkCountsEveryOne()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        const long n = 20_000;
        using var sink = NetworkNamespace.Run(b, () => UdpSink.Open(new UnderlayEndpoint(TunTestNet.NodeB, SinkPort)));
        using var blaster = NetworkNamespace.Run(a, () => UdpBlaster.Open(sink.LocalEndpoint, 64));
        Assert.That(blaster.LocalEndpoint.Address, Is.EqualTo(TunTestNet.NodeA), "the socket lives in namespace a");
        long inBefore = InDatagrams(b);

        var draining = Task.Run(() => sink.Drain(TimeSpan.FromSeconds(15), maxDatagrams: n));
        // Paced (200 kpps) so the veth backlog never overflows on a loaded CI box: the test is about counting, not speed.
        var sent = blaster.Run(TimeSpan.FromSeconds(10), datagramsPerSecond: 200_000, maxDatagrams: n);
        var received = draining.Wait(TimeSpan.FromSeconds(20)) ? draining.Result : default;

        Assert.That(sent.Datagrams, Is.EqualTo(n));
        Assert.That(sent.Errors, Is.Zero);
        Assert.That(sent.Calls, Is.LessThan(n / 8), "batched: many datagrams per sendmmsg");
        Assert.That(received.Datagrams, Is.EqualTo(n), "every datagram arrived");
        Assert.That(received.Bytes, Is.EqualTo(n * 64));
        Assert.That(InDatagrams(b) - inBefore, Is.EqualTo(n), "Udp InDatagrams counts what the sink read");
    }

    [Test, CancelAfter(30_000)]
    public void SegmentOffload_ArrivesAsSeparateDatagramsOfThePayloadSize()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sink = NetworkNamespace.Run(b, () => UdpSink.Open(new UnderlayEndpoint(TunTestNet.NodeB, SinkPort)));
        using var blaster = NetworkNamespace.Run(a, () => UdpBlaster.Open(sink.LocalEndpoint, 1400, batchSize: 4, segmentOffload: true));
        Assert.That(blaster.SegmentsPerMessage, Is.EqualTo(65507 / 1400), "as many 1400 B segments as fit in 64 KiB");
        long n = blaster.SegmentsPerMessage * 100L;

        var draining = Task.Run(() => sink.Drain(TimeSpan.FromSeconds(15), maxDatagrams: n));
        var sent = blaster.Run(TimeSpan.FromSeconds(10), datagramsPerSecond: 100_000, maxDatagrams: n);
        var received = draining.Wait(TimeSpan.FromSeconds(20)) ? draining.Result : default;

        Assert.That(sent.Datagrams, Is.EqualTo(n));
        Assert.That(sent.Calls, Is.LessThanOrEqualTo(n / blaster.SegmentsPerMessage), "one message carries a whole GSO train");
        Assert.That(received.Datagrams, Is.EqualTo(n), "the receiver sees separate datagrams");
        Assert.That(received.Bytes, Is.EqualTo(n * 1400), "each of the payload size");
    }

    [Test, CancelAfter(30_000)]
    public void Run_StopsAtItsDeadline_WhenUnpaced()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sink = NetworkNamespace.Run(b, () => UdpSink.Open(new UnderlayEndpoint(TunTestNet.NodeB, SinkPort)));
        using var blaster = NetworkNamespace.Run(a, () => UdpBlaster.Open(sink.LocalEndpoint, 64));
        var draining = Task.Run(() => sink.Drain(TimeSpan.FromSeconds(1)));
        var sent = blaster.Run(TimeSpan.FromMilliseconds(500));
        var received = draining.Wait(TimeSpan.FromSeconds(10)) ? draining.Result : default;

        Assert.That(sent.Elapsed, Is.InRange(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3)));
        Assert.That(sent.Datagrams, Is.GreaterThan(0));
        Assert.That(received.Elapsed, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)), "the sink also keeps its deadline");
        Assert.That(received.Datagrams, Is.InRange(1, sent.Datagrams), "received ≤ sent");
    }

    [Test]
    public void Open_RejectsSizesOutOfRange()
    {
        var to = new UnderlayEndpoint(Ipv4Address.Parse("127.0.0.1"), SinkPort);
        Assert.That(() => UdpBlaster.Open(to, 0), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => UdpBlaster.Open(to, UdpBlaster.MaxPayload + 1), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => UdpBlaster.Open(to, 64, batchSize: UdpBlaster.MaxBatchSize + 1), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private static long InDatagrams(string ns)
    {
        var lines = NetnsScope.Exec(ns, "cat /proc/net/snmp").Split('\n').Where(l => l.StartsWith("Udp:", StringComparison.Ordinal)).ToList();
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, "InDatagrams")], System.Globalization.CultureInfo.InvariantCulture);
    }
}
