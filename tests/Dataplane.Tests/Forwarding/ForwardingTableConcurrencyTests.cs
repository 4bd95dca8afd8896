using System.Diagnostics;
using Dataplane.Forwarding;
using Dataplane.Packets;
using static Dataplane.Tests.Forwarding.ReferenceRoutes;

namespace Dataplane.Tests.Forwarding;

/// <summary>
/// Readers racing a writer must only ever see whole batches. Each batch moves the table between two
/// states that no half-applied batch can imitate, and readers check that in bounded loops.
/// </summary>
public class ForwardingTableConcurrencyTests
{
    private const int Batches = 3000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly Ipv4Prefix Wide = Ipv4Prefix.Parse("10.244.0.0/16");
    private static readonly Ipv4Prefix Narrow = Ipv4Prefix.Parse("10.244.1.0/24");
    private static readonly Ipv4Address Inside = Ipv4Address.Parse("10.244.1.77");

    /// <summary>
    /// Generation g (the VNI) even: /24 and /16 both present, both tagged g. Odd: only the /16, tagged g.
    /// The batch from even to odd removes the /24 and re-tags the /16; from odd to even it re-adds the /24.
    /// A lookup inside the /24 must therefore see (even g, the /24's hop) or (odd g, the /16's hop), never
    /// a miss, never an old /16 tag behind a removed /24, and generations must never go backwards.
    /// </summary>
    [Test]
    public void TryLookup_DuringBatches_SeesWholeBatchesInOrder()
    {
        var table = new ForwardingTable();
        table.Apply([RouteUpdate.Upsert(Wide, Tagged(0, Wide)), RouteUpdate.Upsert(Narrow, Tagged(0, Narrow))]);
        // Filler routes in many shards so batches also rebuild several shards, not just one.
        table.Apply([.. Enumerable.Range(0, 5000).Select(i => RouteUpdate.Upsert(new Ipv4Prefix(new Ipv4Address(0x6400_0000u + ((uint)i << 8)), 24), Hop(i)))]);

        using var done = new CancellationTokenSource();
        var failures = new List<string>();
        var readers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            uint lastGeneration = 0;
            long reads = 0;
            var clock = Stopwatch.StartNew();
            while (!done.IsCancellationRequested && clock.Elapsed < Deadline)
            {
                reads++;
                string? problem = null;
                if (!table.TryLookup(Inside, out var hop))
                    problem = "lookup missed: a removal was visible before its re-add";
                else if (hop.Vni < lastGeneration)
                    problem = $"generation went back from {lastGeneration} to {hop.Vni}";
                else if (hop.Vni % 2 == 0 ? hop != Tagged(hop.Vni, Narrow) : hop != Tagged(hop.Vni, Wide))
                    problem = $"torn state: generation {hop.Vni} with hop port {hop.Endpoint.Port}";
                if (problem is not null)
                {
                    lock (failures)
                        failures.Add(problem);
                    return;
                }
                lastGeneration = hop.Vni;
            }
        }) { IsBackground = true }).ToList();
        readers.ForEach(r => r.Start());

        for (uint generation = 1; generation <= Batches; generation++)
        {
            if (generation % 2 == 1)
                table.Apply([RouteUpdate.Remove(Narrow), RouteUpdate.Upsert(Wide, Tagged(generation, Wide))]);
            else
                table.Apply([RouteUpdate.Upsert(Wide, Tagged(generation, Wide)), RouteUpdate.Upsert(Narrow, Tagged(generation, Narrow))]);
        }
        done.Cancel();
        readers.ForEach(r => Assert.That(r.Join(Deadline), Is.True, "reader did not stop"));

        Assert.That(failures, Is.Empty);
        Assert.That(table.TryLookup(Inside, out var final), Is.True);
        Assert.That(final, Is.EqualTo(Tagged(Batches, Narrow)));
    }

    /// <summary>Every batch re-tags all 256 routes; a listing taken concurrently must carry one tag only.</summary>
    [Test]
    public void GetRoutes_DuringBatches_ReturnsOneVersion()
    {
        const int routes = 256;
        var table = new ForwardingTable();
        table.Apply(Retag(0));
        using var done = new CancellationTokenSource();
        string? failure = null;
        var reader = new Thread(() =>
        {
            var clock = Stopwatch.StartNew();
            while (!done.IsCancellationRequested && clock.Elapsed < Deadline && failure is null)
            {
                var listing = table.GetRoutes();
                if (listing.Count != routes || listing.Select(r => r.NextHop.Vni).Distinct().Count() != 1)
                    failure = $"listing of {listing.Count} routes with tags {string.Join(',', listing.Select(r => r.NextHop.Vni).Distinct())}";
            }
        }) { IsBackground = true };
        reader.Start();
        for (uint generation = 1; generation <= 500; generation++)
            table.Apply(Retag(generation));
        done.Cancel();
        Assert.That(reader.Join(Deadline), Is.True);
        Assert.That(failure, Is.Null);

        static RouteUpdate[] Retag(uint generation) =>
            [.. Enumerable.Range(0, routes).Select(i => RouteUpdate.Upsert(new Ipv4Prefix(new Ipv4Address(0x0AF4_0000u + ((uint)i << 8)), 24), Tagged(generation, Narrow)))];
    }

    private static NextHop Tagged(uint generation, Ipv4Prefix which) =>
        Hop(0) with { Vni = generation, Endpoint = new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.1"), (ushort)(which.Length == 24 ? 2424 : 1616)) };
}
