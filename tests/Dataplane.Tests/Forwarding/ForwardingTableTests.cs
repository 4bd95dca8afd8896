using CsCheck;
using Dataplane.Forwarding;
using Dataplane.Packets;
using static Dataplane.Tests.Forwarding.ReferenceRoutes;

namespace Dataplane.Tests.Forwarding;

public class ForwardingTableTests
{
    private static Ipv4Address A(string text) => Ipv4Address.Parse(text);

    private static RouteUpdate Up(string prefix, int hop) => RouteUpdate.Upsert(Ipv4Prefix.Parse(prefix), Hop(hop));

    private static RouteUpdate Down(string prefix) => RouteUpdate.Remove(Ipv4Prefix.Parse(prefix));

    [Test]
    public void TryLookup_EmptyTable_Misses()
    {
        var table = new ForwardingTable();
        Assert.That(table.TryLookup(A("10.244.1.2"), out var hop), Is.False);
        Assert.That(hop, Is.EqualTo(default(NextHop)));
        Assert.That(table.Count, Is.Zero);
    }

    [Test]
    public void TryLookup_OverlappingPrefixes_PicksLongest()
    {
        var table = new ForwardingTable();
        table.Apply([Up("0.0.0.0/0", 1), Up("10.0.0.0/8", 2), Up("10.244.0.0/16", 3), Up("10.244.1.0/24", 4), Up("10.244.1.7/32", 5)]);

        Assert.Multiple(() =>
        {
            Assert.That(Lookup(table, "10.244.1.7"), Is.EqualTo(5));
            Assert.That(Lookup(table, "10.244.1.8"), Is.EqualTo(4));
            Assert.That(Lookup(table, "10.244.2.1"), Is.EqualTo(3));
            Assert.That(Lookup(table, "10.1.2.3"), Is.EqualTo(2));
            Assert.That(Lookup(table, "192.168.0.1"), Is.EqualTo(1));
            Assert.That(table.Count, Is.EqualTo(5));
        });
    }

    [Test]
    public void Apply_RemoveMostSpecific_FallsBackToCovering()
    {
        var table = new ForwardingTable();
        table.Apply([Up("10.244.0.0/16", 3), Up("10.244.1.0/24", 4)]);
        table.Apply([Down("10.244.1.0/24"), Down("172.16.0.0/12")]);

        Assert.That(Lookup(table, "10.244.1.9"), Is.EqualTo(3));
        Assert.That(table.Count, Is.EqualTo(1));
    }

    [Test]
    public void Apply_SamePrefixTwiceInBatch_LaterWins()
    {
        var table = new ForwardingTable();
        table.Apply([Up("10.244.1.0/24", 1), Up("10.244.1.0/24", 2)]);
        Assert.That(Lookup(table, "10.244.1.1"), Is.EqualTo(2));

        table.Apply([Up("10.244.1.0/24", 3), Down("10.244.1.0/24")]);
        Assert.That(table.TryLookup(A("10.244.1.1"), out _), Is.False);

        table.Apply([Down("10.244.1.0/24"), Up("10.244.1.0/24", 4)]);
        Assert.That(Lookup(table, "10.244.1.1"), Is.EqualTo(4));
        Assert.That(table.Count, Is.EqualTo(1));
    }

    [Test]
    public void Apply_HostBitsInPrefix_AreCanonical()
    {
        var table = new ForwardingTable();
        table.Apply([Up("10.244.1.99/24", 1)]);
        Assert.That(table.TryGetRoute(Ipv4Prefix.Parse("10.244.1.0/24"), out var hop), Is.True);
        Assert.That(hop, Is.EqualTo(Hop(1)));
        Assert.That(table.GetRoutes(), Is.EqualTo(new[] { (Ipv4Prefix.Parse("10.244.1.0/24"), Hop(1)) }));
    }

    [Test]
    public void Apply_EmptyBatch_KeepsSnapshot()
    {
        var table = new ForwardingTable();
        table.Apply([Up("10.244.1.0/24", 1)]);
        var before = table.Snapshot;
        table.Apply([]);
        Assert.That(table.Snapshot, Is.SameAs(before));
    }

    /// <summary>
    /// The core property: after every batch of random upserts and removes (prefix lengths 0..32, many
    /// overlapping because addresses come from a few narrow ranges), lookups of random and boundary
    /// addresses agree with the naive longest-match scan, and the route listing equals the model.
    /// </summary>
    [Test]
    public void TryLookup_AgreesWithLinearScan_OnRandomBatches()
    {
        var address = Gen.OneOf(
            Gen.UInt,
            Gen.UInt[0x0AF4_0000u, 0x0AF4_FFFFu],   // 10.244.0.0/16: dense overlap
            Gen.UInt[0x0A00_0000u, 0x0A00_00FFu],   // 10.0.0.0/24: deep nesting
            Gen.Const(0u),
            Gen.Const(uint.MaxValue));
        var update = Gen.Select(Gen.Int[0, 3], address, Gen.Int[0, 32], Gen.Int[1, 500], Gen.Int[0, 1000]);
        var batches = update.Array[0, 40].Array[1, 6];
        var gen = Gen.Select(batches, address.Array[0, 64]);

        gen.Sample(sample =>
        {
            var (rawBatches, probes) = sample;
            var table = new ForwardingTable();
            var model = new ReferenceRoutes();
            foreach (var raw in rawBatches)
            {
                var batch = new RouteUpdate[raw.Length];
                for (int i = 0; i < raw.Length; i++)
                {
                    var (kind, addr, length, hop, pick) = raw[i];
                    var prefix = new Ipv4Prefix(new Ipv4Address(addr), length);
                    // Half the removes target an existing route, so removal paths are exercised.
                    if (kind == 0 && pick % 2 == 0 && model.Count > 0)
                        prefix = model.Prefixes.ElementAt(pick % model.Count);
                    batch[i] = kind == 0 ? RouteUpdate.Remove(prefix) : RouteUpdate.Upsert(prefix, Hop(hop));
                }
                table.Apply(batch);
                model.Apply(batch);
                AssertAgrees(table, model, probes.Select(p => new Ipv4Address(p)).Concat(model.EdgeAddresses()));
            }
        }, iter: 1000);
    }

    /// <summary>
    /// Grows to 20 000 routes and back to empty in batches: crosses every shard-count threshold both ways
    /// (full rebuilds) and exercises the O(changes) path in between.
    /// </summary>
    [Test]
    public void Apply_GrowAndShrinkAcrossShardResizes_StaysCorrect()
    {
        var random = new Random(20240601);
        var table = new ForwardingTable();
        var model = new ReferenceRoutes();
        var inserted = new List<Ipv4Prefix>();
        int maxShards = 0;
        int[] lengths = [8, 16, 20, 24, 24, 24, 28, 32];

        for (int step = 0; step < 8; step++)
        {
            var batch = new RouteUpdate[2500];
            for (int i = 0; i < batch.Length; i++)
            {
                var prefix = new Ipv4Prefix(new Ipv4Address((uint)random.NextInt64(0, 1L << 32)), lengths[random.Next(lengths.Length)]);
                inserted.Add(prefix);
                batch[i] = RouteUpdate.Upsert(prefix, Hop(random.Next(1, 100_000)));
            }
            ApplyAndCheck(batch);
            maxShards = Math.Max(maxShards, table.Snapshot.ShardCount);
        }
        Assert.That(maxShards, Is.GreaterThanOrEqualTo(256), "a 20k-route table should be sharded");

        for (int start = 0; start < inserted.Count; start += 2500)
            ApplyAndCheck([.. inserted.Skip(start).Take(2500).Select(RouteUpdate.Remove)]);

        Assert.That(table.Count, Is.Zero);
        Assert.That(table.Snapshot.ShardCount, Is.EqualTo(1));

        void ApplyAndCheck(RouteUpdate[] batch)
        {
            table.Apply(batch);
            model.Apply(batch);
            Assert.That(table.Count, Is.EqualTo(model.Count));
            var probes = Enumerable.Range(0, 200).Select(_ => new Ipv4Address((uint)random.NextInt64(0, 1L << 32)))
                .Concat(model.EdgeAddresses().Take(400));
            foreach (var probe in probes)
            {
                bool expected = model.TryLookup(probe, out var expectedHop);
                Assert.That(table.TryLookup(probe, out var actualHop), Is.EqualTo(expected), $"{probe}");
                Assert.That(actualHop, Is.EqualTo(expectedHop), $"{probe}");
            }
        }
    }

    private static void AssertAgrees(ForwardingTable table, ReferenceRoutes model, IEnumerable<Ipv4Address> probes)
    {
        if (table.Count != model.Count)
            throw new AssertionException($"Count {table.Count} != model {model.Count}");
        if (!table.GetRoutes().SequenceEqual(model.SortedRoutes()))
            throw new AssertionException("GetRoutes differs from the model");
        foreach (var probe in probes)
        {
            bool expected = model.TryLookup(probe, out var expectedHop);
            bool actual = table.TryLookup(probe, out var actualHop);
            if (actual != expected || actualHop != expectedHop)
                throw new AssertionException($"{probe}: table ({actual}, vni {actualHop.Vni}) vs reference ({expected}, vni {expectedHop.Vni})");
        }
    }

    private static int Lookup(ForwardingTable table, string address) =>
        table.TryLookup(A(address), out var hop) ? (int)hop.Vni : -1;
}
