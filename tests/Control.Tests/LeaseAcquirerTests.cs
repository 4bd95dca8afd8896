using Control.Config;
using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

public class LeaseAcquirerTests
{
    private static readonly NetworkConfig Config = NetworkConfigParser.Parse("""{"Network":"10.244.0.0/16"}""", "t");
    private static readonly TimeSpan Ttl = TimeSpan.FromHours(24);
    private static readonly Ipv4Address Me = Ipv4Address.Parse("198.18.0.1");

    private static (DirectorySubnetRegistry Registry, LeaseAcquirer Acquirer) Make(TempDir dir, int seed = 1)
    {
        var r = DirectorySubnetRegistry.Open(dir.Path, TimeProvider.System, NullLogger.Instance);
        return (r, new LeaseAcquirer(r, NullLogger.Instance, new Random(seed)));
    }

    [Test]
    public void Reuses_the_lease_holding_our_PublicIP_first()
    {
        using var dir = new TempDir();
        var (r, a) = Make(dir);
        r.TryCreate(Ipv4Prefix.Parse("10.244.42.0/24"), LeaseAttributes.ForUdp(Me), TimeSpan.FromMinutes(5));
        var lease = a.Acquire(Config, LeaseAttributes.ForUdp(Me), Ipv4Prefix.Parse("10.244.9.0/24"), Ttl);
        Assert.That(lease.Subnet.ToString(), Is.EqualTo("10.244.42.0/24"), "own PublicIP beats the subnet file");
        Assert.That(lease.Expiration, Is.GreaterThan(DateTimeOffset.UtcNow + TimeSpan.FromHours(23)), "reuse refreshes the TTL");
        Assert.That(r.List().Leases, Has.Count.EqualTo(1));
    }

    [Test]
    public void Static_lease_for_our_PublicIP_is_reused_and_stays_static()
    {
        using var dir = new TempDir();
        var (r, a) = Make(dir);
        dir.Write("subnets/10.244.77.0-24", """{"PublicIP":"198.18.0.1","PublicIPv6":null}""");
        var vxlan = LeaseAttributes.ForVxlan(Me, 1, MacAddress.Parse("02:00:00:00:00:01"));
        var lease = a.Acquire(Config, vxlan, null, Ttl);
        Assert.That((lease.Subnet.ToString(), lease.IsStatic), Is.EqualTo(("10.244.77.0/24", true)));
        Assert.That(File.Exists(dir["subnets/.meta/10.244.77.0-24"]), Is.False, "no metadata: still a reservation");
        Assert.That(File.ReadAllText(dir["subnets/10.244.77.0-24"]), Is.EqualTo(vxlan.ToJson()), "attributes updated, as flannel's updateSubnet does");
    }

    [Test]
    public void Incompatible_own_lease_is_deleted_and_replaced()
    {
        using var dir = new TempDir();
        var (r, a) = Make(dir);
        r.TryCreate(Ipv4Prefix.Parse("10.99.0.0/24"), LeaseAttributes.ForUdp(Me), Ttl);
        var lease = a.Acquire(Config, LeaseAttributes.ForUdp(Me), null, Ttl);
        Assert.That(Config.IsCompatible(lease.Subnet), Is.True);
        Assert.That(r.List().Leases.Select(l => l.Subnet), Is.EqualTo(new[] { lease.Subnet }));
    }

    [Test]
    public void Then_the_subnet_from_the_previous_subnet_env_if_free()
    {
        using var dir = new TempDir();
        var (r, a) = Make(dir);
        var lease = a.Acquire(Config, LeaseAttributes.ForUdp(Me), Ipv4Prefix.Parse("10.244.200.0/24"), Ttl);
        Assert.That(lease.Subnet.ToString(), Is.EqualTo("10.244.200.0/24"));

        r.TryCreate(Ipv4Prefix.Parse("10.244.201.0/24"), LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.7")), Ttl);
        var other = a.Acquire(Config, LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.8")), Ipv4Prefix.Parse("10.244.201.0/24"), Ttl);
        Assert.That(other.Subnet.ToString(), Is.Not.EqualTo("10.244.201.0/24"), "taken: fall through to random");
    }

    [Test]
    public void Then_random_among_the_first_100_free_subnets()
    {
        using var dir = new TempDir();
        var picks = new HashSet<string>();
        for (int seed = 0; seed < 30; seed++)
        {
            using var d = new TempDir();
            var (_, a) = Make(d, seed);
            var lease = a.Acquire(Config, LeaseAttributes.ForUdp(Me), null, Ttl);
            Assert.That(lease.Subnet.Address.Value, Is.InRange(Ipv4Address.Parse("10.244.1.0").Value, Ipv4Address.Parse("10.244.100.0").Value));
            picks.Add(lease.Subnet.ToString());
        }
        Assert.That(picks, Has.Count.GreaterThan(10), "the pick is random");
    }

    [Test]
    public void Allocation_skips_occupied_and_corrupt_subnets_and_reports_a_full_network()
    {
        using var dir = new TempDir();
        var small = NetworkConfigParser.Parse("""{"Network":"10.0.0.0/28"}""", "t"); // /30s: .4 .8 .12
        var (r, a) = Make(dir);
        r.TryCreate(Ipv4Prefix.Parse("10.0.0.4/30"), LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.4")), Ttl);
        dir.Write("subnets/10.0.0.8-30", "corrupt");
        Assert.That(a.Acquire(small, LeaseAttributes.ForUdp(Me), null, Ttl).Subnet.ToString(), Is.EqualTo("10.0.0.12/30"));
        var e = Assert.Throws<ControlException>(() => a.Acquire(small, LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.99")), null, Ttl))!;
        Assert.That(e.Message, Does.StartWith("out of subnets"));
    }

    [Test]
    public void Our_own_corrupt_lease_is_an_error()
    {
        using var dir = new TempDir();
        var (r, a) = Make(dir);
        r.TryCreate(Ipv4Prefix.Parse("10.244.5.0/24"), LeaseAttributes.ForUdp(Me), Ttl);
        File.WriteAllText(dir["subnets/10.244.5.0-24"], "{garbage");
        var e = Assert.Throws<ControlException>(() => a.Acquire(Config, LeaseAttributes.ForUdp(Me), null, Ttl))!;
        Assert.That(e.Message, Does.Contain("our own lease 10.244.5.0-24").And.Contain("corrupt"));
    }

    [Test]
    public void Renewal_schedule_is_flannels_margin_capped_at_half_the_ttl()
    {
        var exp = DateTimeOffset.Parse("2030-01-02T00:00:00Z");
        Assert.That(RenewalSchedule.RenewAt(exp, TimeSpan.FromHours(24), TimeSpan.FromMinutes(60)), Is.EqualTo(exp - TimeSpan.FromMinutes(60)));
        Assert.That(RenewalSchedule.RenewAt(exp, TimeSpan.FromSeconds(4), TimeSpan.FromMinutes(60)), Is.EqualTo(exp - TimeSpan.FromSeconds(2)));
        Assert.That(RenewalSchedule.RetryDelay(TimeSpan.FromHours(24)), Is.EqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(RenewalSchedule.RetryDelay(TimeSpan.FromSeconds(4)), Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(Enumerable.Range(0, 8).Select(n => RenewalSchedule.BackOff(n, TimeSpan.FromHours(24)).TotalSeconds),
            Is.EqualTo(new double[] { 1, 2, 4, 8, 16, 32, 60, 60 }), "back-off doubles up to flannel's minute");
    }
}
