using Dataplane.Packets;
using Dataplane.Testing;
using Dataplane.Tun.Netlink;

namespace Dataplane.Tun.Tests;

/// <summary>rtnetlink against a real kernel in a scratch namespace, cross-checked with the ip/bridge tools.</summary>
[Category("Privileged")]
public class RtNetlinkTests
{
    private static (NetnsScope Scope, string Ns, RtNetlink Nl, int Tun) TunInNamespace()
    {
        Prerequisites.RequireNetns();
        var scope = new NetnsScope();
        try
        {
            var ns = scope.Create("a");
            NetnsScope.Exec(ns, "ip tuntap add dev flannel0 mode tun");
            var nl = NetworkNamespace.Run(ns, () => new RtNetlink());
            return (scope, ns, nl, nl.GetLink("flannel0").Index);
        }
        catch
        {
            scope.Dispose();
            throw;
        }
    }

    [Test]
    public void GetLink_Loopback_AndMissingDevice()
    {
        var (scope, _, nl, _) = TunInNamespace();
        using (scope)
        using (nl)
        {
            var lo = nl.GetLink("lo");
            Assert.That(lo.Index, Is.EqualTo(1));
            Assert.That(lo.IsUp, Is.True);
            Assert.That(lo.Mtu, Is.EqualTo(65536));
            Assert.That(nl.TryGetLink("nope0"), Is.Null);
            var e = Assert.Throws<PlatformException>(() => nl.GetLink("nope0"));
            Assert.That(e!.Errno, Is.EqualTo(19));
            Assert.That(e.Message, Does.StartWith("interface nope0: No such device"));
        }
    }

    [Test]
    public void SetLinkUp_SetMtu_AreSeenByIp()
    {
        var (scope, ns, nl, tun) = TunInNamespace();
        using (scope)
        using (nl)
        {
            nl.SetMtu(tun, 1472);
            nl.SetLinkUp(tun);
            var link = nl.GetLink("flannel0");
            Assert.That(link.Mtu, Is.EqualTo(1472));
            Assert.That(link.IsUp, Is.True);
            Assert.That(NetnsScope.Exec(ns, "ip link show flannel0"), Does.Contain("mtu 1472").And.Contain("UP"));
            nl.SetLinkUp(tun, false);
            Assert.That(nl.GetLink("flannel0").IsUp, Is.False);
            var e = Assert.Throws<PlatformException>(() => nl.SetMtu(tun, 20));
            Assert.That(e!.Message, Does.Contain("set dev flannel0 mtu 20"));
        }
    }

    [Test]
    public void Addresses_AddListDelete_AndDuplicateIsEexist()
    {
        var (scope, ns, nl, tun) = TunInNamespace();
        using (scope)
        using (nl)
        {
            var address = Ipv4Address.Parse("10.244.1.0");
            nl.AddAddress(tun, address, 32);
            Assert.That(NetnsScope.Exec(ns, "ip -4 addr show dev flannel0"), Does.Contain("inet 10.244.1.0/32"));
            var listed = nl.ListAddresses(tun);
            Assert.That(listed, Has.Count.EqualTo(1));
            Assert.That(listed[0].Address, Is.EqualTo(address));
            Assert.That(listed[0].PrefixLength, Is.EqualTo(32));

            var e = Assert.Throws<PlatformException>(() => nl.AddAddress(tun, address, 32));
            Assert.That(e!.Errno, Is.EqualTo(17));
            Assert.That(e.Message, Does.StartWith("add address 10.244.1.0/32 dev flannel0: File exists"));

            nl.DeleteAddress(tun, address, 32);
            Assert.That(nl.ListAddresses(tun), Is.Empty);
            Assert.Throws<PlatformException>(() => nl.DeleteAddress(tun, address, 32));
        }
    }

    [Test]
    public void Routes_DevRoute_AddReplaceDelete_WithIpStyleErrors()
    {
        var (scope, ns, nl, tun) = TunInNamespace();
        using (scope)
        using (nl)
        {
            nl.SetLinkUp(tun);
            var route = new RouteInfo { Destination = Ipv4Prefix.Parse("10.244.0.0/16"), LinkIndex = tun };
            nl.AddRoute(route);
            Assert.That(NetnsScope.Exec(ns, "ip route show 10.244.0.0/16"), Does.Contain("10.244.0.0/16 dev flannel0"));
            var listed = nl.ListRoutes().Single(r => r.Destination == route.Destination);
            Assert.That(listed.LinkIndex, Is.EqualTo(tun));
            Assert.That(listed.Scope, Is.EqualTo(RouteScope.Universe), "flannel's route is scope universe");
            Assert.That(listed.Type, Is.EqualTo(RouteType.Unicast));

            var e = Assert.Throws<PlatformException>(() => nl.AddRoute(route));
            Assert.That(e!.Message, Does.StartWith("add route 10.244.0.0/16 dev flannel0: File exists"));
            Assert.That(e.Errno, Is.EqualTo(17));

            nl.ReplaceRoute(route with { Metric = 5 });
            nl.ReplaceRoute(route with { Metric = 5 }); // idempotent
            Assert.That(nl.ListRoutes().Count(r => r.Destination == route.Destination), Is.EqualTo(2), "different metric = a second route");
            nl.DeleteRoute(route with { Metric = 5 });
            nl.DeleteRoute(route);
            Assert.That(nl.ListRoutes().Any(r => r.Destination == route.Destination), Is.False);
            var gone = Assert.Throws<PlatformException>(() => nl.DeleteRoute(route));
            Assert.That(gone!.Errno, Is.EqualTo(3), "ESRCH");
            Assert.That(gone.Message, Does.StartWith("delete route 10.244.0.0/16 dev flannel0: No such process"));

            var missing = Assert.Throws<PlatformException>(() => nl.AddRoute(route with { LinkIndex = 9999 }));
            Assert.That(missing!.Errno, Is.EqualTo(19), "ENODEV");
            Assert.That(missing.Message, Does.Contain("dev #9999"));
        }
    }

    [TestCase(RouteType.Blackhole, "blackhole")]
    [TestCase(RouteType.Unreachable, "unreachable")]
    [TestCase(RouteType.Prohibit, "prohibit")]
    public void Routes_WithoutDevice_AddListDelete(RouteType type, string word)
    {
        var (scope, ns, nl, _) = TunInNamespace();
        using (scope)
        using (nl)
        {
            var route = new RouteInfo { Destination = Ipv4Prefix.Parse("10.244.0.0/16"), Type = type };
            nl.AddRoute(route);
            Assert.That(NetnsScope.Exec(ns, "ip route show"), Does.Contain($"{word} 10.244.0.0/16"));
            Assert.That(nl.ListRoutes().Single(r => r.Destination == route.Destination).Type, Is.EqualTo(type));
            nl.DeleteRoute(route);
            Assert.That(NetnsScope.Exec(ns, "ip route show"), Does.Not.Contain("10.244.0.0/16"));
        }
    }

    [Test]
    public void Vxlan_ProgrammedAsFlanneldDoes_NeighbourFdbAndOnlinkRoute()
    {
        Prerequisites.RequireNetns();
        Prerequisites.RequireTool("bridge");
        using var scope = new NetnsScope();
        var (a, _) = TunTestNet.TwoNodes(scope);
        using var nl = NetworkNamespace.Run(a, () => new RtNetlink());
        var eth0 = nl.GetLink("eth0");
        var mac = MacAddress.Parse("0a:58:0a:f4:01:00");
        var vx = nl.CreateVxlan(new VxlanLinkOptions
        {
            Name = "flannel.1", Vni = 1, Local = TunTestNet.NodeA, UnderlayLinkIndex = eth0.Index, Learning = false, Mtu = 1450, Mac = mac,
        });
        Assert.That(vx.Kind, Is.EqualTo("vxlan"));
        Assert.That(vx.Mac, Is.EqualTo(mac));
        Assert.That(vx.Mtu, Is.EqualTo(1450));
        Assert.That(vx.Vxlan, Is.EqualTo(new Netlink.VxlanInfo(1, TunTestNet.NodeA, 8472, eth0.Index, false, true)),
            "kernel defaults: port 8472, UDP checksum on");
        var details = NetnsScope.Exec(a, "ip -d link show flannel.1");
        Assert.That(details, Does.Contain("vxlan id 1").And.Contain("local 198.18.0.1").And.Contain("dev eth0")
            .And.Contain("dstport 8472").And.Contain("nolearning"));
        nl.SetLinkUp(vx.Index);
        nl.AddAddress(vx.Index, Ipv4Address.Parse("10.244.1.0"), 32);

        // Per remote subnet, in flanneld's order: neighbour, FDB, route.
        var remoteMac = MacAddress.Parse("0a:58:0a:f4:02:00");
        var remoteVtep = Ipv4Address.Parse("10.244.2.0");
        nl.SetNeighbour(vx.Index, remoteVtep, remoteMac);
        nl.SetNeighbour(vx.Index, remoteVtep, remoteMac); // replace: idempotent
        nl.SetFdb(vx.Index, remoteMac, TunTestNet.NodeB);
        var route = new RouteInfo { Destination = Ipv4Prefix.Parse("10.244.2.0/24"), Gateway = remoteVtep, LinkIndex = vx.Index, OnLink = true };
        nl.ReplaceRoute(route);

        var neighbour = nl.ListNeighbours(vx.Index).Single();
        Assert.That(neighbour.Address, Is.EqualTo(remoteVtep));
        Assert.That(neighbour.Mac, Is.EqualTo(remoteMac));
        Assert.That(neighbour.IsPermanent, Is.True);
        Assert.That(NetnsScope.Exec(a, "ip neigh show dev flannel.1"), Does.Contain("10.244.2.0 lladdr 0a:58:0a:f4:02:00 PERMANENT"));
        var fdb = nl.ListFdb(vx.Index).Single(f => f.Mac == remoteMac);
        Assert.That(fdb.IsFdb, Is.True);
        Assert.That(fdb.Address, Is.EqualTo(TunTestNet.NodeB));
        Assert.That(NetnsScope.Exec(a, "bridge fdb show dev flannel.1"), Does.Contain("0a:58:0a:f4:02:00 dst 198.18.0.2 self permanent"));
        var listed = nl.ListRoutes().Single(r => r.Destination == route.Destination);
        Assert.That(listed.OnLink, Is.True);
        Assert.That(listed.Gateway, Is.EqualTo(remoteVtep));
        Assert.That(NetnsScope.Exec(a, "ip route show 10.244.2.0/24"), Does.Contain("10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"));

        // EventRemoved order: neighbour, FDB, route.
        nl.DeleteNeighbour(vx.Index, remoteVtep);
        nl.DeleteFdb(vx.Index, remoteMac, TunTestNet.NodeB);
        nl.DeleteRoute(route);
        Assert.That(nl.ListNeighbours(vx.Index), Is.Empty);
        Assert.That(nl.ListFdb(vx.Index).Any(f => f.Mac == remoteMac), Is.False);
        var e = Assert.Throws<PlatformException>(() => nl.DeleteNeighbour(vx.Index, remoteVtep));
        Assert.That(e!.Message, Does.StartWith("delete neighbour 10.244.2.0 dev flannel.1:"));

        var dup = Assert.Throws<PlatformException>(() => nl.CreateVxlan(new VxlanLinkOptions { Name = "flannel.1", Vni = 1 }));
        Assert.That(dup!.Errno, Is.EqualTo(17));
        nl.DeleteLink(vx.Index);
        Assert.That(nl.TryGetLink("flannel.1"), Is.Null);
    }

    [Test]
    public void DescribeInterface_DefaultRouteInterface_MtuAndAddresses()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, _) = TunTestNet.TwoNodes(scope, mtu: 9000);
        using var nl = NetworkNamespace.Run(a, () => new RtNetlink());
        var none = Assert.Throws<PlatformException>(() => nl.DescribeInterface());
        Assert.That(none!.Message, Does.Contain("no IPv4 default route"));

        NetnsScope.Exec(a, "ip route add default via 198.18.0.2");
        var info = nl.DescribeInterface();
        Assert.That(info.Name, Is.EqualTo("eth0"));
        Assert.That(info.Mtu, Is.EqualTo(9000), "jumbo frames are reported as they are");
        Assert.That(info.Addresses.Select(x => x.ToString().Split(' ')[0]), Is.EqualTo(new[] { "198.18.0.1/24" }));
        Assert.That(nl.DescribeInterface("eth0").Link.Index, Is.EqualTo(info.Link.Index));

        NetnsScope.Exec(a, "ip tuntap add dev noaddr0 mode tun");
        var noIpv4 = Assert.Throws<PlatformException>(() => nl.DescribeInterface("noaddr0"));
        Assert.That(noIpv4!.Message, Does.StartWith("interface noaddr0:").And.Contain("no IPv4 address"));
        var missing = Assert.Throws<PlatformException>(() => nl.DescribeInterface("eth9"));
        Assert.That(missing!.Message, Does.StartWith("interface eth9: No such device"));
    }
}
