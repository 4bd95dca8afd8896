using Control.Interfaces;
using Dataplane.Packets;

namespace Control.Tests;

public class InterfaceSelectionTests
{
    private static ExternalInterface Select(FakeHost host, string[]? ifaces = null, string[]? regexes = null, string? publicIp = null) =>
        ExternalInterfaceSelector.Select(host, ifaces ?? [], regexes ?? [], publicIp is null ? null : Ipv4Address.Parse(publicIp));

    [Test]
    public void Default_route_interface_and_its_first_ipv4()
    {
        Assert.That(Select(FakeHost.Standard()), Is.EqualTo(new ExternalInterface("eth0", Ipv4Address.Parse("198.18.0.1"), Ipv4Address.Parse("198.18.0.1"), 1500)));
    }

    [Test]
    public void Iface_by_name_or_by_ip_first_that_resolves_wins_and_public_ip_overrides_ext_addr()
    {
        Assert.That(Select(FakeHost.Standard(), ["eth1"]).Mtu, Is.EqualTo(9001), "jumbo MTU kept");
        var byIp = Select(FakeHost.Standard(), ["nosuch", "198.18.0.100"], publicIp: "203.0.113.7");
        Assert.That((byIp.Name, byIp.IfaceAddr.ToString(), byIp.ExtAddr.ToString()), Is.EqualTo(("eth0", "198.18.0.100", "203.0.113.7")));
    }

    [Test]
    public void Iface_regex_matches_addresses_before_names()
    {
        Assert.That(Select(FakeHost.Standard(), regexes: [@"^198\.18\.1\."]).Name, Is.EqualTo("eth1"));
        Assert.That(Select(FakeHost.Standard(), regexes: ["^eth1$"]).IfaceAddr.ToString(), Is.EqualTo("198.18.1.1"));
        Assert.That(Select(FakeHost.Standard(), ["lo"], ["eth1"]).Name, Is.EqualTo("lo"), "--iface wins over --iface-regex");
    }

    [Test]
    public void Errors_name_the_problem()
    {
        var host = new FakeHost("eth9", FakeHost.Nic("eth9", 1500), FakeHost.Nic("zero", 0, "198.18.3.3"));
        Assert.That(Assert.Throws<ControlException>(() => Select(host))!.Message, Does.Contain("failed to find IPv4 address for interface eth9"));
        Assert.That(Assert.Throws<ControlException>(() => Select(host, ["zero"]))!.Message, Does.Contain("failed to determine MTU for zero"));
        Assert.That(Assert.Throws<ControlException>(() => Select(host, ["nope"]))!.Message, Does.Contain("no interface named nope"));
        Assert.That(Assert.Throws<ControlException>(() => Select(new FakeHost(null)))!.Message, Does.Contain("no IPv4 default route"));
        Assert.That(Assert.Throws<ControlException>(() => Select(host, regexes: ["^wlan"]))!.Message, Does.Contain("--iface-regex"));
    }

    [Test]
    public void Proc_net_route_default_route_parsing()
    {
        string[] table =
        [
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
            "eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0",
            "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
            "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
            "down\t00000000\t0100A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0",
        ];
        Assert.That(SystemHostInterfaces.ParseDefaultRoute(table), Is.EqualTo("eth0"));
        Assert.That(SystemHostInterfaces.ParseDefaultRoute(table.Take(1)), Is.Null);
    }

    [Test]
    public void Real_host_lists_loopback_with_an_mtu()
    {
        var lo = new SystemHostInterfaces().List().FirstOrDefault(i => i.Name == "lo");
        Assert.That(lo, Is.Not.Null);
        Assert.That(lo!.Mtu, Is.GreaterThan(0));
        Assert.That(lo.Ipv4Addresses, Does.Contain(Ipv4Address.Parse("127.0.0.1")));
    }
}
