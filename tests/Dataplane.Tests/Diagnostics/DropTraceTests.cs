using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Tests.Diagnostics;

/// <summary>The drop trace ring: off while nobody follows, bounded in rate, readers that fall behind see the gap.</summary>
public class DropTraceTests
{
    private static readonly UnderlayEndpoint Peer = new(Ipv4Address.Parse("198.18.0.9"), 8285);

    [Test]
    public void Inactive_until_followed_and_again_after()
    {
        var trace = new DropTrace();
        Assert.That(trace.Active, Is.False);
        using (var reader = trace.Follow())
        {
            Assert.That(trace.Active, Is.True);
            using var second = trace.Follow();
            second.Dispose();
            second.Dispose();
            Assert.That(trace.Active, Is.True, "one follower left");
        }
        Assert.That(trace.Active, Is.False);
    }

    [Test]
    public void Records_come_back_in_order_with_at_most_the_snap_length()
    {
        var trace = new DropTrace(capacity: 8);
        using var reader = trace.Follow();
        var big = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        trace.Record(DropReason.UnknownSource, TracedLayer.VxlanPayload, Peer, big);
        trace.Record(DropReason.NoRoute, TracedLayer.TunPacket, default, big.AsSpan(0, 20));
        var first = reader.TryRead();
        var second = reader.TryRead();
        Assert.That(reader.TryRead(), Is.Null);
        Assert.That(first!.Reason, Is.EqualTo(DropReason.UnknownSource));
        Assert.That(first.Peer, Is.EqualTo(Peer));
        Assert.That(first.OriginalLength, Is.EqualTo(300));
        Assert.That(first.Bytes, Is.EqualTo(big[..DropTrace.SnapLength]));
        Assert.That(second!.Sequence, Is.EqualTo(first.Sequence + 1));
        Assert.That(second.Bytes, Is.EqualTo(big[..20]));
        Assert.That(reader.Missed, Is.Zero);
    }

    [Test]
    public void A_reader_that_falls_a_ring_behind_skips_ahead_and_counts_what_it_missed()
    {
        var trace = new DropTrace(capacity: 4, maxPerSecond: 1000);
        using var reader = trace.Follow();
        for (int i = 0; i < 10; i++)
            trace.Record(DropReason.TooBig, TracedLayer.TunPacket, default, [(byte)i]);
        var seen = new List<TracedDrop>();
        while (reader.TryRead() is { } d)
            seen.Add(d);
        Assert.That(seen.Select(d => d.Bytes[0]), Is.EqualTo(new byte[] { 6, 7, 8, 9 }), "the newest ring-full");
        Assert.That(reader.Missed, Is.EqualTo(6));
    }

    [Test]
    public void The_rate_is_bounded_per_second()
    {
        var trace = new DropTrace(capacity: 64, maxPerSecond: 5);
        using var reader = trace.Follow();
        for (int i = 0; i < 50; i++)
            trace.Record(DropReason.TooBig, TracedLayer.TunPacket, default, [1, 2, 3]);
        int read = 0;
        while (reader.TryRead() is not null)
            read++;
        // Two one-second windows at most if the second turned during the loop.
        Assert.That(read, Is.InRange(5, 10));
        Assert.That(trace.RateLimited, Is.EqualTo(50 - read));
    }

    [Test]
    public void Concurrent_writers_and_a_reader_never_see_a_torn_record()
    {
        var trace = new DropTrace(capacity: 16, maxPerSecond: int.MaxValue);
        using var reader = trace.Follow();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var writers = Enumerable.Range(1, 2).Select(w => Task.Run(() =>
        {
            var payload = new byte[64];
            for (long n = 0; n < 200_000 && !stop.IsCancellationRequested; n++)
            {
                Array.Fill(payload, (byte)(n + w));
                trace.Record(DropReason.TooBig, TracedLayer.TunPacket, default, payload);
            }
        })).ToArray();
        int checkedRecords = 0;
        while (!writers.All(t => t.IsCompleted))
        {
            while (reader.TryRead() is { } d)
            {
                Assert.That(d.Bytes.Distinct().Count(), Is.EqualTo(1), "one writer's bytes, whole");
                checkedRecords++;
            }
        }
        Task.WaitAll(writers);
        Assert.That(checkedRecords, Is.GreaterThan(0));
    }
}
