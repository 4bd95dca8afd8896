using System.Diagnostics;
using Dataplane.Buffers;
using Dataplane.Diagnostics;

namespace Dataplane.Tests.Buffers;

public class PacketBufferPoolTests
{
    [Test]
    public void TryRent_FreshAndReused_StartsWithConfiguredHeadroom()
    {
        var pool = new PacketBufferPool(capacity: 2, bufferSize: 256, headroom: 40);
        Assert.That(pool.TryRent(out var buffer), Is.True);
        Assert.That((buffer!.Offset, buffer.Length, buffer.Headroom), Is.EqualTo((40, 0, 40)));

        // Dirty it the way a pump would: read a packet, encapsulate, then give it back.
        buffer.Load(new byte[100]);
        buffer.Prepend(22);
        buffer.Peer = new(Dataplane.Packets.Ipv4Address.Parse("198.18.0.2"), 8472);
        pool.Return(buffer);

        Assert.That(pool.TryRent(out var again), Is.True);
        Assert.That(again, Is.SameAs(buffer), "LIFO: the warm buffer comes back first");
        Assert.That((again!.Offset, again.Length, again.Peer), Is.EqualTo((40, 0, default(Dataplane.Packets.UnderlayEndpoint))));
        Assert.That(again.Writable.Length, Is.EqualTo(256 - 40));
    }

    [Test]
    public void TryRent_WhenExhausted_FailsAndCountsDropWithoutThrowing()
    {
        var drops = new DropCounters();
        var pool = new PacketBufferPool(capacity: 3, bufferSize: 128, headroom: 16, drops: drops);
        var rented = new List<PacketBuffer>();
        for (int i = 0; i < 3; i++)
        {
            Assert.That(pool.TryRent(out var b), Is.True);
            rented.Add(b!);
        }

        Assert.That(pool.TryRent(out var none), Is.False);
        Assert.That(none, Is.Null);
        Assert.That(pool.TryRent(out _), Is.False);
        Assert.That(drops[DropReason.PoolExhausted], Is.EqualTo(2));
        Assert.That(pool.Drops, Is.SameAs(drops));

        pool.Return(rented[1]);
        Assert.That(pool.TryRent(out var back), Is.True);
        Assert.That(back, Is.SameAs(rented[1]));
        Assert.That(drops[DropReason.PoolExhausted], Is.EqualTo(2));
    }

    [Test]
    public void Buffers_AreDisjointWindowsOfPinnedSlabs()
    {
        var pool = new PacketBufferPool(capacity: 50, bufferSize: 100, headroom: 10);
        var all = new List<PacketBuffer>();
        while (pool.TryRent(out var b))
            all.Add(b);
        Assert.That(all, Has.Count.EqualTo(50));
        Assert.That(all.Distinct().Count(), Is.EqualTo(50));
        Assert.That(all.Select(b => b.Array).Distinct().Count(), Is.EqualTo(1), "one slab, allocated once");
        // Allocated by GC.AllocateUninitializedArray(pinned: true): lives on the Pinned Object Heap, which
        // the GC reports as generation 2 and never moves.
        Assert.That(GC.GetGeneration(all[0].Array), Is.EqualTo(GC.MaxGeneration));

        for (int i = 0; i < all.Count; i++)
        {
            all[i].Reset(0);
            all[i].Writable.Fill((byte)i);
            Assert.That(all[i].Capacity, Is.EqualTo(100));
            Assert.That(all[i].WindowStart % 64, Is.Zero, "buffers start on cache lines");
        }
        for (int i = 0; i < all.Count; i++)
            Assert.That(all[i].Writable.ToArray().All(x => x == (byte)i), Is.True, $"buffer {i} was overwritten by a neighbour");
        Assert.That(pool.CountAvailable(), Is.Zero);
    }

    [Test]
    public void Return_BufferFromElsewhere_Throws()
    {
        var pool = new PacketBufferPool(capacity: 1);
        var other = new PacketBufferPool(capacity: 1);
        Assert.That(other.TryRent(out var foreign), Is.True);
        Assert.Throws<ArgumentException>(() => pool.Return(foreign!));
        Assert.Throws<ArgumentException>(() => pool.Return(new PacketBuffer(128)));
        Assert.That(pool.CountAvailable(), Is.EqualTo(1));
    }

#if DEBUG
    // Only DEBUG builds check (it costs an interlocked op per return): run with `dotnet test -c Debug`.
    [Test]
    public void Return_Twice_ThrowsInDebugBuilds()
    {
        var pool = new PacketBufferPool(capacity: 2);
        Assert.That(pool.TryRent(out var buffer), Is.True);
        pool.Return(buffer!);
        var ex = Assert.Throws<InvalidOperationException>(() => pool.Return(buffer!));
        Assert.That(ex!.Message, Does.Contain("twice"));
        Assert.That(pool.CountAvailable(), Is.EqualTo(2), "the failed return must not corrupt the free list");

        // A buffer that was never rented is also "already in the pool".
        Assert.That(pool.TryRent(out var first), Is.True);
        Assert.That(pool.TryRent(out var second), Is.True);
        pool.Return(first!);
        Assert.Throws<InvalidOperationException>(() => pool.Return(first!));
        pool.Return(second!);
        Assert.That(pool.CountAvailable(), Is.EqualTo(2));
    }
#endif

    /// <summary>
    /// Several threads rent and return in bounded loops while the pool runs dry now and then. Every rented
    /// buffer is claimed in an ownership table (a second concurrent owner fails the claim) and stamped
    /// with the thread's id, which must survive until it is returned. At the end every buffer is free,
    /// each exactly once, and every failed rent was counted as a drop.
    /// </summary>
    [Test]
    public void RentAndReturn_FromManyThreads_NeverSharesABufferAndLosesNone()
    {
        const int capacity = 24;
        const int threads = 4;
        const int rounds = 200_000;
        var drops = new DropCounters();
        var pool = new PacketBufferPool(capacity, bufferSize: 128, headroom: 32, drops: drops);
        var owner = new int[capacity];
        long failedRents = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var deadline = Stopwatch.StartNew();

        var workers = Enumerable.Range(1, threads).Select(id => new Thread(() =>
        {
            var random = new Random(id);
            var held = new List<PacketBuffer>(8);
            for (int round = 0; round < rounds && deadline.Elapsed < TimeSpan.FromSeconds(60); round++)
            {
                int want = random.Next(1, 9);
                for (int i = 0; i < want; i++)
                {
                    if (!pool.TryRent(out var buffer))
                    {
                        Interlocked.Increment(ref failedRents);
                        break;
                    }
                    if (Interlocked.CompareExchange(ref owner[buffer.PoolIndex], id, 0) != 0)
                        errors.Enqueue($"buffer {buffer.PoolIndex} handed to thread {id} while owned by {owner[buffer.PoolIndex]}");
                    if (buffer.Offset != 32 || buffer.Length != 0)
                        errors.Enqueue($"buffer {buffer.PoolIndex} rented dirty: offset {buffer.Offset}, length {buffer.Length}");
                    buffer.Load([(byte)id, (byte)id, (byte)id]);
                    held.Add(buffer);
                }
                if (round % 7 == 0)
                    Thread.Yield();
                foreach (var buffer in held)
                {
                    if (buffer.Data[0] != id || buffer.Data[2] != id)
                        errors.Enqueue($"buffer {buffer.PoolIndex} written by another thread while thread {id} owned it");
                    if (Interlocked.CompareExchange(ref owner[buffer.PoolIndex], 0, id) != id)
                        errors.Enqueue($"ownership of buffer {buffer.PoolIndex} changed under thread {id}");
                    pool.Return(buffer);
                }
                held.Clear();
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => Assert.That(t.Join(TimeSpan.FromSeconds(90)), Is.True, "worker hung"));

        Assert.That(errors, Is.Empty);
        Assert.That(pool.CountAvailable(), Is.EqualTo(capacity));
        Assert.That(drops[DropReason.PoolExhausted], Is.EqualTo(Interlocked.Read(ref failedRents)));
        var all = new List<PacketBuffer>();
        while (pool.TryRent(out var b))
            all.Add(b);
        Assert.That(all.Select(b => b.PoolIndex).Distinct().Count(), Is.EqualTo(capacity));
        TestContext.Out.WriteLine($"exhausted {failedRents} times");
    }

    [Test]
    public void Constructor_RejectsNonsense()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new PacketBufferPool(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new PacketBufferPool(4, bufferSize: 64, headroom: 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new PacketBufferPool(4, headroom: -1));
    }
}
