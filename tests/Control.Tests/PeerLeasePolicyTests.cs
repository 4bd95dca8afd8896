using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

/// <summary>Peer leases that lie (issue 13 §2): refused with one warning, never an event, so never a route nor a peer.</summary>
public class PeerLeasePolicyTests
{
    private static readonly Ipv4Prefix Network = Ipv4Prefix.Parse("10.244.0.0/16");
    private static readonly Ipv4Prefix Own = Ipv4Prefix.Parse("10.244.1.0/24");
    private static readonly Ipv4Address OwnIp = Ipv4Address.Parse("198.18.0.1");

    private static Lease L(string subnet, string ip) => new(Ipv4Prefix.Parse(subnet), LeaseAttributes.ForUdp(Ipv4Address.Parse(ip)), null);

    private static PeerLeasePolicy Policy() => new(Network, Own, [OwnIp]);

    private static LeaseWatcher Watcher() => new(Own, NullLogger.Instance, Policy());

    [TestCase("10.245.0.0/24", "198.18.0.2", "outside the Network")]
    [TestCase("0.0.0.0/1", "198.18.0.2", "outside the Network")]
    [TestCase("10.244.0.0/16", "198.18.0.2", "overlaps our own subnet")]
    [TestCase("10.244.1.128/25", "198.18.0.2", "overlaps our own subnet")]
    [TestCase("10.244.2.0/24", "0.0.0.0", "unspecified")]
    [TestCase("10.244.2.0/24", "127.0.0.1", "loopback")]
    [TestCase("10.244.2.0/24", "127.200.0.9", "loopback")]
    [TestCase("10.244.2.0/24", "224.0.0.1", "multicast")]
    [TestCase("10.244.2.0/24", "239.255.255.255", "multicast")]
    [TestCase("10.244.2.0/24", "255.255.255.255", "broadcast")]
    [TestCase("10.244.2.0/24", "198.18.0.1", "own address")]
    public void A_lying_lease_is_refused_with_its_reason(string subnet, string ip, string reason)
    {
        var (accepted, refused) = Policy().Split([L(subnet, ip), L("10.244.9.0/24", "198.18.0.9")]);
        Assert.That(accepted.Select(l => l.Subnet.ToString()), Is.EqualTo(new[] { "10.244.9.0/24" }), "the honest peer beside it is kept");
        Assert.That(refused, Has.Count.EqualTo(1));
        Assert.That(refused[0].Reason, Does.Contain(reason));
    }

    [Test]
    public void Subnets_outside_SubnetMin_SubnetMax_but_inside_the_Network_are_routed_as_flannel_does()
    {
        // 10.244.0.0/24 is below flannel's default SubnetMin (Network + one subnet), 10.244.255.0/24 is above its
        // SubnetMax: flannel routes such peers (static reservations, leases from an earlier range), so do we.
        var (accepted, refused) = Policy().Split([L("10.244.0.0/24", "198.18.0.2"), L("10.244.255.0/24", "198.18.0.3")]);
        Assert.That(refused, Is.Empty);
        Assert.That(accepted, Has.Count.EqualTo(2));
    }

    [Test]
    public void Overlapping_peer_leases_are_all_refused_whatever_the_order()
    {
        var leases = new[]
        {
            L("10.244.2.0/24", "198.18.0.2"),
            L("10.244.2.128/25", "198.18.0.66"),  // nested inside .2.0/24
            L("10.244.4.0/22", "198.18.0.4"),     // contains .5.0/24 and .6.0/24 below
            L("10.244.5.0/24", "198.18.0.5"),
            L("10.244.6.0/24", "198.18.0.6"),
            L("10.244.3.0/24", "198.18.0.3"),     // disjoint from all: kept
            L("10.244.8.0/24", "198.18.0.8"),     // disjoint from all: kept
        };
        var expectedRefused = new[] { "10.244.2.0/24", "10.244.2.128/25", "10.244.4.0/22", "10.244.5.0/24", "10.244.6.0/24" };
        var rng = new Random(13);
        for (int i = 0; i < 20; i++)
        {
            var shuffled = leases.OrderBy(_ => rng.Next()).ToList();
            var (accepted, refused) = Policy().Split(shuffled);
            Assert.That(refused.Select(r => r.Lease.Subnet.ToString()), Is.EquivalentTo(expectedRefused), $"order {i}");
            Assert.That(accepted.Select(l => l.Subnet.ToString()), Is.EquivalentTo(new[] { "10.244.3.0/24", "10.244.8.0/24" }), $"order {i}");
            Assert.That(refused.All(r => r.Reason.Contains("overlaps the lease", StringComparison.Ordinal)));
        }
    }

    [Test]
    public void A_lease_refused_for_another_reason_does_not_knock_out_the_peer_it_overlaps()
    {
        var (accepted, _) = Policy().Split([L("10.244.2.0/24", "198.18.0.2"), L("10.244.2.0/23", "127.0.0.1"), L("10.244.0.0/16", "198.18.0.7")]);
        Assert.That(accepted.Select(l => l.Subnet.ToString()), Is.EqualTo(new[] { "10.244.2.0/24" }));
    }

    [Test]
    public void Overlap_sweep_agrees_with_a_pairwise_check_on_random_sets()
    {
        var rng = new Random(42);
        for (int round = 0; round < 200; round++)
        {
            var leases = new List<Lease>();
            var subnets = new HashSet<Ipv4Prefix>();
            int n = rng.Next(1, 12);
            while (leases.Count < n)
            {
                int len = rng.Next(20, 29);
                uint addr = Network.Address.Value | ((uint)rng.Next(0, 1 << 16) & Ipv4Prefix.MaskOf(len));
                var p = new Ipv4Prefix(new Ipv4Address(addr), len);
                if (p.Overlaps(Own) || !subnets.Add(p))
                    continue;
                leases.Add(new Lease(p, LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.1.1")), null));
            }
            var expected = leases.Where(a => leases.Any(b => b != a && b.Subnet.Overlaps(a.Subnet))).Select(l => l.Subnet);
            var (_, refused) = Policy().Split(leases);
            Assert.That(refused.Select(r => r.Lease.Subnet), Is.EquivalentTo(expected), $"round {round}: {string.Join(' ', leases.Select(l => l.Subnet))}");
        }
    }

    [Test]
    public void Watcher_never_adds_a_refused_lease_warns_once_and_removes_a_lease_that_turns_bad()
    {
        var w = Watcher();
        var good = L("10.244.2.0/24", "198.18.0.2");
        var loopback = L("10.244.3.0/24", "127.0.0.1");

        var first = w.Update(new LeaseSnapshot([good, loopback], []));
        Assert.That(first.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Added, "10.244.2.0/24") }));
        Assert.That(w.Peers.Keys.Select(k => k.ToString()), Is.EqualTo(new[] { "10.244.2.0/24" }));
        Assert.That(w.RefusedLeases, Is.EqualTo(1));

        // The same bad entry renewed (new expiry) is not warned about again.
        var renewed = loopback with { Expiration = DateTimeOffset.UnixEpoch.AddDays(1) };
        Assert.That(w.Update(new LeaseSnapshot([good, renewed], [])), Is.Empty);
        Assert.That(w.RefusedLeases, Is.EqualTo(1));

        // A forged overlapping entry appears: the genuine peer's route goes away (fail closed) until it is removed.
        var forged = L("10.244.2.0/25", "198.18.0.66");
        var overlap = w.Update(new LeaseSnapshot([good, forged, renewed], []));
        Assert.That(overlap.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Removed, "10.244.2.0/24") }));
        Assert.That(w.Peers, Is.Empty);
        Assert.That(w.RefusedLeases, Is.EqualTo(3));

        var healed = w.Update(new LeaseSnapshot([good], []));
        Assert.That(healed.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Added, "10.244.2.0/24") }));

        // A routed peer republishing our own address as its PublicIP is removed, not changed.
        var hijack = w.Update(new LeaseSnapshot([L("10.244.2.0/24", "198.18.0.1")], []));
        Assert.That(hijack.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Removed, "10.244.2.0/24") }));
    }
}
