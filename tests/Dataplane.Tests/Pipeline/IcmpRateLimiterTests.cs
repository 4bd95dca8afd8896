using Dataplane.Packets;
using Dataplane.Pipeline;

namespace Dataplane.Tests.Pipeline;

public class IcmpRateLimiterTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Now = 1_000_000;
        public override long TimestampFrequency => 1_000_000;
        public override long GetTimestamp() => Now;
    }

    [Test]
    public void PerDestination_BurstOfSix_ThenOnePerSecond()
    {
        var time = new ManualTime();
        var limiter = new IcmpRateLimiter(time);
        var d = Ipv4Address.Parse("10.244.1.2");
        int allowed = Enumerable.Range(0, 20).Count(_ => limiter.TryAcquire(d));
        Assert.That(allowed, Is.EqualTo(6));
        time.Now += 500_000;
        Assert.That(limiter.TryAcquire(d), Is.False);
        time.Now += 500_000;
        Assert.That(limiter.TryAcquire(d), Is.True);
        Assert.That(limiter.TryAcquire(Ipv4Address.Parse("10.244.1.3")), Is.True, "other destinations have their own bucket");
    }

    [Test]
    public void Global_Burst50_Then1000PerSecond()
    {
        var time = new ManualTime();
        var limiter = new IcmpRateLimiter(time);
        int allowed = Enumerable.Range(0, 200).Count(i => limiter.TryAcquire(new Ipv4Address((uint)(0x0A000000 + i * 7919))));
        Assert.That(allowed, Is.EqualTo(50));
        time.Now += 10_000; // 10 ms -> 10 tokens
        allowed = Enumerable.Range(1000, 100).Count(i => limiter.TryAcquire(new Ipv4Address((uint)(0x0A000000 + i * 7919))));
        Assert.That(allowed, Is.EqualTo(10));
    }
}
