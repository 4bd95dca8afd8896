using Dataplane.Buffers;
using Dataplane.Diagnostics;

namespace Dataplane.Tests.Buffers;

public class PacketBatchTests
{
    [Test]
    public void RentFrom_FillsToCapacity_AndReturnToGivesEverythingBack()
    {
        var pool = new PacketBufferPool(capacity: 10, bufferSize: 256);
        var batch = new PacketBatch(4);

        Assert.That(batch.RentFrom(pool), Is.EqualTo(4));
        Assert.That((batch.Count, batch.IsFull), Is.EqualTo((4, true)));
        Assert.That(batch.RentFrom(pool), Is.Zero, "already full");
        Assert.That(pool.CountAvailable(), Is.EqualTo(6));
        Assert.That(batch.AsSpan().ToArray().Distinct().Count(), Is.EqualTo(4));

        batch.ReturnTo(pool);
        Assert.That(batch.Count, Is.Zero);
        Assert.That(pool.CountAvailable(), Is.EqualTo(10));
    }

    [Test]
    public void RentFrom_ShortPool_AddsWhatIsThereWithoutCountingADrop()
    {
        var drops = new DropCounters();
        var pool = new PacketBufferPool(capacity: 3, bufferSize: 256, drops: drops);
        var batch = new PacketBatch(8);
        Assert.That(batch.RentFrom(pool), Is.EqualTo(3));
        Assert.That(batch.Count, Is.EqualTo(3));
        Assert.That(drops.Total, Is.Zero);
    }

    [Test]
    public void TryAdd_WhenFull_LeavesOwnershipWithCaller()
    {
        var batch = new PacketBatch(1);
        var first = new PacketBuffer(128);
        var second = new PacketBuffer(128);
        Assert.That(batch.TryAdd(first), Is.True);
        Assert.That(batch.TryAdd(second), Is.False);
        Assert.That(batch[0], Is.SameAs(first));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = batch[1]);
        batch.Clear();
        Assert.That(batch.Count, Is.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = batch[0]);
    }

    [Test]
    public void AsSpan_SwappedElement_IsOwnedByBatch()
    {
        var pool = new PacketBufferPool(capacity: 3, bufferSize: 256);
        var batch = new PacketBatch(2);
        batch.RentFrom(pool);
        Assert.That(pool.TryRent(out var spare), Is.True);
        var handedOn = batch[0];
        batch.AsSpan()[0] = spare!;
        batch.ReturnTo(pool);
        Assert.That(pool.CountAvailable(), Is.EqualTo(2));
        pool.Return(handedOn);
        Assert.That(pool.CountAvailable(), Is.EqualTo(3));
    }
}
