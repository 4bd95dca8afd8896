using Control.Config;
using Control.Leases;
using Control.Routing;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

public class WatcherAndRoutesTests
{
    private static readonly Ipv4Prefix Own = Ipv4Prefix.Parse("10.244.1.0/24");

    private static Lease L(string subnet, LeaseAttributes a) => new(Ipv4Prefix.Parse(subnet), a, null);

    private static LeaseAttributes Udp(string ip) => LeaseAttributes.ForUdp(Ipv4Address.Parse(ip));

    private static LeaseAttributes Vx(string ip, string mac, uint vni = 1) => LeaseAttributes.ForVxlan(Ipv4Address.Parse(ip), vni, MacAddress.Parse(mac));

    [Test]
    public void Snapshots_become_added_changed_removed_and_skip_our_own_lease()
    {
        var w = new LeaseWatcher(Own, NullLogger.Instance);
        var first = w.Update(new LeaseSnapshot([L("10.244.1.0/24", Udp("198.18.0.1")), L("10.244.2.0/24", Udp("198.18.0.2"))], []));
        Assert.That(first.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Added, "10.244.2.0/24") }));

        var renewedOnly = w.Update(new LeaseSnapshot([new Lease(Ipv4Prefix.Parse("10.244.2.0/24"), Udp("198.18.0.2"), DateTimeOffset.UtcNow)], []));
        Assert.That(renewedOnly, Is.Empty, "a new expiry alone is not an event");

        var changed = w.Update(new LeaseSnapshot([L("10.244.2.0/24", Udp("198.18.0.22")), L("10.244.3.0/24", Udp("198.18.0.3"))], []));
        Assert.That(changed.Select(e => e.Kind), Is.EquivalentTo(new[] { LeaseEventKind.Changed, LeaseEventKind.Added }));

        var removed = w.Update(new LeaseSnapshot([L("10.244.3.0/24", Udp("198.18.0.3"))], []));
        Assert.That(removed.Select(e => (e.Kind, e.Lease.Subnet.ToString())), Is.EqualTo(new[] { (LeaseEventKind.Removed, "10.244.2.0/24") }));
    }

    [Test]
    public void Corrupt_peer_entries_are_counted_once_each()
    {
        var w = new LeaseWatcher(Own, NullLogger.Instance);
        var bad = new CorruptLease("10.244.9.0-24", Ipv4Prefix.Parse("10.244.9.0/24"), "not JSON", null);
        w.Update(new LeaseSnapshot([], [bad]));
        w.Update(new LeaseSnapshot([], [bad]));
        Assert.That(w.CorruptSkipped, Is.EqualTo(1));
        w.Update(new LeaseSnapshot([], []));
        w.Update(new LeaseSnapshot([], [bad]));
        Assert.That(w.CorruptSkipped, Is.EqualTo(2), "a new occurrence after it was fixed counts again");
    }

    [Test]
    public void Events_become_one_route_batch_with_encapsulation_from_the_peer_backend_type()
    {
        var batches = new List<RouteUpdate[]>();
        var rc = new RouteController(PeerEncapsulation.For(new BackendConfig(BackendType.Vxlan, 8472, 1, null)), b => batches.Add(b.ToArray()), NullLogger.Instance);
        rc.Apply([
            new LeaseEvent(LeaseEventKind.Added, L("10.244.2.0/24", Udp("198.18.0.2"))),
            new LeaseEvent(LeaseEventKind.Added, L("10.244.3.0/24", Vx("198.18.0.3", "02:00:00:00:00:03", 7))),
            new LeaseEvent(LeaseEventKind.Removed, L("10.244.4.0/24", Udp("198.18.0.4"))),
        ]);
        Assert.That(batches, Has.Count.EqualTo(1));
        Assert.That(batches[0], Is.EqualTo(new[]
        {
            RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8285), EncapsulationKind.FlannelUdp)),
            RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.3.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.3"), 8472), EncapsulationKind.Vxlan, MacAddress.Parse("02:00:00:00:00:03"), 7)),
            RouteUpdate.Remove(Ipv4Prefix.Parse("10.244.4.0/24")),
        }));
    }

    [Test]
    public void Configured_port_applies_to_our_backend_type_and_bad_vxlan_data_is_skipped()
    {
        var batches = new List<RouteUpdate[]>();
        var rc = new RouteController(PeerEncapsulation.For(new BackendConfig(BackendType.Udp, 7890, 1, null)), b => batches.Add(b.ToArray()), NullLogger.Instance);
        var broken = new LeaseAttributes(Ipv4Address.Parse("198.18.0.5"), "vxlan", """{"VNI":1}""");
        rc.Apply([
            new LeaseEvent(LeaseEventKind.Added, L("10.244.2.0/24", Udp("198.18.0.2"))),
            new LeaseEvent(LeaseEventKind.Added, L("10.244.5.0/24", broken)),
        ]);
        Assert.That(rc.SkippedLeases, Is.EqualTo(1));
        Assert.That(batches.Single().Single().NextHop.Endpoint.Port, Is.EqualTo(7890));
        rc.Apply([new LeaseEvent(LeaseEventKind.Changed, L("10.244.2.0/24", broken))]);
        Assert.That(batches[1], Is.EqualTo(new[] { RouteUpdate.Remove(Ipv4Prefix.Parse("10.244.2.0/24")) }), "a lease turned unusable loses its stale route");
        rc.Apply([]);
        Assert.That(batches, Has.Count.EqualTo(2), "no empty batches");
    }

    [Test]
    public void HostGw_routes_host_gw_leases_only_as_flanneld_and_drops_a_lease_that_changes_type()
    {
        var batches = new List<RouteUpdate[]>();
        var rc = new RouteController(PeerEncapsulation.For(new BackendConfig(BackendType.HostGw, 0, 1, null)), b => batches.Add(b.ToArray()), NullLogger.Instance);
        var hostGw = LeaseAttributes.ForHostGw(Ipv4Address.Parse("198.18.0.2"));
        Assert.That(hostGw.ToJson(), Is.EqualTo("""{"PublicIP":"198.18.0.2","PublicIPv6":null,"BackendType":"host-gw"}"""));
        rc.Apply([
            new LeaseEvent(LeaseEventKind.Added, L("10.244.2.0/24", hostGw)),
            new LeaseEvent(LeaseEventKind.Added, L("10.244.3.0/24", Udp("198.18.0.3"))),
            new LeaseEvent(LeaseEventKind.Added, L("10.244.4.0/24", Vx("198.18.0.4", "02:00:00:00:00:04"))),
            new LeaseEvent(LeaseEventKind.Removed, L("10.244.5.0/24", Udp("198.18.0.5"))),
        ]);
        Assert.That(batches.Single(), Is.EqualTo(new[]
        {
            RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 0), EncapsulationKind.Routed)),
        }));
        rc.Apply([new LeaseEvent(LeaseEventKind.Changed, L("10.244.2.0/24", Udp("198.18.0.2")))]);
        Assert.That(batches[1], Is.EqualTo(new[] { RouteUpdate.Remove(Ipv4Prefix.Parse("10.244.2.0/24")) }));
    }
}
