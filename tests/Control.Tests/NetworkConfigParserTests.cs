using Control.Config;
using Dataplane.Packets;

namespace Control.Tests;

public class NetworkConfigParserTests
{
    private static NetworkConfig Parse(string json) => NetworkConfigParser.Parse(json, "test.json");

    private static string Error(string json) =>
        Assert.Throws<ControlException>(() => Parse(json))!.Message;

    [Test]
    public void Defaults_follow_CheckNetworkConfig_and_skip_the_first_subnet()
    {
        var c = Parse("""{"Network":"10.244.0.0/16"}""");
        Assert.That(c.Network, Is.EqualTo(Ipv4Prefix.Parse("10.244.0.0/16")));
        Assert.That(c.SubnetLen, Is.EqualTo(24));
        Assert.That(c.SubnetMin, Is.EqualTo(Ipv4Address.Parse("10.244.1.0")), "the first subnet is skipped");
        Assert.That(c.SubnetMax, Is.EqualTo(Ipv4Address.Parse("10.244.255.0")));
        Assert.That(c.Backend, Is.EqualTo(BackendConfig.DefaultUdp), "Backend absent means udp");
        Assert.That(c.Backend.Port, Is.EqualTo(8285));
    }

    [TestCase("10.0.0.0/22", 24, "10.0.1.0", "10.0.3.0")]
    [TestCase("10.0.0.0/23", 25, "10.0.0.128", "10.0.1.128")]
    [TestCase("10.0.0.0/28", 30, "10.0.0.4", "10.0.0.12")]
    [TestCase("10.0.0.0/8", 24, "10.0.1.0", "10.255.255.0")]
    public void Default_SubnetLen_is_24_up_to_a_slash_22_then_prefix_plus_2(string network, int len, string min, string max)
    {
        var c = Parse($$"""{"Network":"{{network}}"}""");
        Assert.That((c.SubnetLen, c.SubnetMin.ToString(), c.SubnetMax.ToString()), Is.EqualTo((len, min, max)));
    }

    [Test]
    public void Keys_are_case_insensitive_and_last_duplicate_wins()
    {
        var c = Parse("""{"network":"10.1.0.0/16","SUBNETLEN":20,"subnetmin":"10.2.16.0","backend":{"type":"VXLAN","vni":7,"port":4789,"mtu":9000},"Network":"10.2.0.0/16"}""");
        Assert.That(c.Network, Is.EqualTo(Ipv4Prefix.Parse("10.2.0.0/16")));
        Assert.That(c.SubnetLen, Is.EqualTo(20));
        Assert.That(c.Backend, Is.EqualTo(new BackendConfig(BackendType.Vxlan, 4789, 7, 9000)));
    }

    [Test]
    public void Documented_example_parses()
    {
        var c = Parse("""{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0","Backend":{"Type":"udp","Port":7890}}""");
        Assert.That((c.SubnetMin.ToString(), c.SubnetMax.ToString(), c.Backend.Port), Is.EqualTo(("10.10.0.0", "10.99.0.0", (ushort)7890)));
    }

    [Test]
    public void Flannels_stock_net_conf_starts_and_EnableNFTables_true_is_refused_by_name()
    {
        // kube-flannel.yml's net-conf.json, as shipped.
        var stock = Parse("""{"Network":"10.244.0.0/16","EnableNFTables":false,"Backend":{"Type":"vxlan"}}""");
        Assert.That(stock.Backend.Type, Is.EqualTo(BackendType.Vxlan));
        var e = Assert.Throws<ControlException>(() => Parse("""{"Network":"10.244.0.0/16","EnableNFTables":true,"Backend":{"Type":"vxlan"}}"""));
        Assert.That(e!.Message, Does.Contain("EnableNFTables=true"));
    }

    [Test]
    public void Unknown_keys_are_ignored_with_one_warning_naming_them_all()
    {
        var warnings = new List<string>();
        var c = NetworkConfigParser.Parse(
            """{"Network":"10.244.0.0/16","Subnetlength":26,"Comment":"x","Backend":{"Type":"vxlan","VNI":2,"Flavour":"y"}}""",
            "net-conf.json", warnings.Add);
        Assert.That(c.SubnetLen, Is.EqualTo(24), "an unknown key changes nothing");
        Assert.That(c.Backend.Vni, Is.EqualTo(2u));
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.StartWith("net-conf.json: ").And.EndWith(": Subnetlength, Comment, Backend.Flavour"));
    }

    [Test]
    public void Known_keys_in_any_case_and_flannels_ipv6_keys_with_ipv6_off_give_no_warning()
    {
        var warnings = new List<string>();
        NetworkConfigParser.Parse(
            """{"network":"10.244.0.0/16","EnableNFTables":false,"EnableIPv6":false,"IPv6Network":"fd00::/48","IPv6SubnetLen":64,"backend":{"type":"udp","port":8285}}""",
            "c", warnings.Add);
        Assert.That(warnings, Is.Empty);
    }

    [TestCase("EnableIPv4", "false", "EnableIPv4=false")]
    [TestCase("EnableIPv6", "true", "EnableIPv6")]
    [TestCase("EnableNFTables", "true", "EnableNFTables=true")]
    public void Known_keys_are_refused_by_name_only_at_a_value_we_cannot_honour(string key, string bad, string named)
    {
        string good = bad == "true" ? "false" : "true";
        Assert.DoesNotThrow(() => Parse($$"""{"Network":"10.244.0.0/16","{{key}}":{{good}}}"""));
        Assert.That(Error($$"""{"Network":"10.244.0.0/16","{{key}}":{{bad}}}"""), Does.Contain(named));
    }

    [Test]
    public void Vxlan_defaults_are_port_8472_and_vni_1()
    {
        var b = Parse("""{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}""").Backend;
        Assert.That(b, Is.EqualTo(new BackendConfig(BackendType.Vxlan, 8472, 1, null)));
    }

    [Test]
    public void Mtu_is_ext_minus_28_for_udp_and_minus_50_for_vxlan_and_Backend_MTU_replaces_ext()
    {
        Assert.That(BackendConfig.DefaultUdp.OverlayMtu(1500), Is.EqualTo(1472));
        Assert.That(new BackendConfig(BackendType.Vxlan, 8472, 1, null).OverlayMtu(1500), Is.EqualTo(1450));
        Assert.That(new BackendConfig(BackendType.Vxlan, 8472, 1, null).OverlayMtu(9001), Is.EqualTo(8951));
        Assert.That(new BackendConfig(BackendType.Vxlan, 8472, 1, 1400).OverlayMtu(9001), Is.EqualTo(1350));
        // host-gw: the external interface's MTU as it is (pkg/backend/hostgw: Mtu = extIface.Iface.MTU).
        Assert.That(new BackendConfig(BackendType.HostGw, 0, 1, null).OverlayMtu(9001), Is.EqualTo(9001));
    }

    [Test]
    public void DirectRouting_is_read_for_vxlan()
    {
        Assert.That(NetworkConfigParser.Parse("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}""", "t").Backend.DirectRouting, Is.True);
        Assert.That(NetworkConfigParser.Parse("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","directrouting":false}}""", "t").Backend.DirectRouting, Is.False);
        Assert.That(NetworkConfigParser.Parse("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}""", "t").Backend.DirectRouting, Is.False);
    }

    [Test]
    public void HostGw_is_parsed_as_flannel_names_it()
    {
        var config = NetworkConfigParser.Parse("""{"Network":"10.0.0.0/16","Backend":{"Type":"host-gw"}}""", "test.json");
        Assert.That(config.Backend.Type, Is.EqualTo(BackendType.HostGw));
        Assert.That(config.Backend.TypeName, Is.EqualTo("host-gw"));
        Assert.That(config.Backend.Overhead, Is.Zero);
    }

    [TestCase("""{"Network":"10.0.0.0/16","SubnetLen":31}""", "SubnetLen must be less than /31")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetLen":17}""", "at least four subnets")]
    [TestCase("""{"Network":"10.0.0.0/29"}""", "Minimum useful network prefix is /28")]
    [TestCase("""{"SubnetLen":24}""", "please define a correct Network")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetMin":"10.1.0.0"}""", "SubnetMin 10.1.0.0 is not in the range")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetMax":"11.0.0.0"}""", "SubnetMax 11.0.0.0 is not in the range")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetMin":"10.0.1.5"}""", "SubnetMin is not on a SubnetLen boundary")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetMax":"10.0.9.128"}""", "SubnetMax is not on a SubnetLen boundary")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"wireguard"}}""", "\"wireguard\" is not supported")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"bogus"}}""", "unknown backend type \"bogus\"")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{}}""", "Backend.Type is missing")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":"udp"}""", "error decoding Backend")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","GBP":true}}""", "GBP is not supported")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","DirectRouting":1}}""", "DirectRouting must be true or false")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"udp","Port":70000}}""", "Backend.Port 70000")]
    [TestCase("""{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","MTU":50}}""", "Backend.MTU 50 is out of range")]
    [TestCase("""{"Network":"10.0.0.0/16","SubnetLen":"24"}""", "SubnetLen must be a non-negative integer")]
    [TestCase("""{"Network":"fc00::/48"}""", "is not an IPv4 CIDR")]
    [TestCase("""{"Network":"10.0.0.0/16","EnableIPv6":true}""", "EnableIPv6")]
    [TestCase("""{"Network":"10.0.0.0/16",}""", "invalid JSON")]
    [TestCase("""[1]""", "must be a JSON object")]
    public void Invalid_configs_are_refused_naming_source_and_problem(string json, string expected)
    {
        var message = Error(json);
        Assert.That(message, Does.StartWith("test.json: "));
        Assert.That(message, Does.Contain(expected));
    }

    [Test]
    public void Compatibility_is_flannels_isSubnetConfigCompat()
    {
        var c = Parse("""{"Network":"10.244.0.0/16"}""");
        Assert.That(c.IsCompatible(Ipv4Prefix.Parse("10.244.3.0/24")), Is.True);
        Assert.That(c.IsCompatible(Ipv4Prefix.Parse("10.244.0.0/24")), Is.False, "below SubnetMin");
        Assert.That(c.IsCompatible(Ipv4Prefix.Parse("10.244.3.0/25")), Is.False, "wrong length");
        Assert.That(c.IsCompatible(Ipv4Prefix.Parse("10.245.3.0/24")), Is.False, "outside");
    }

    [Test]
    public void Loader_prefers_the_file_and_refuses_a_disagreeing_store_config()
    {
        using var dir = new TempDir();
        var file = dir.Write("net.json", """{"Network":"10.244.0.0/16"}""");
        Assert.That(NetworkConfigLoader.Load(file, """{"network":"10.244.0.0/16","Backend":{"Type":"udp"}}""", "DIR/config").Network.ToString(),
            Is.EqualTo("10.244.0.0/16"), "same meaning, different text: fine");
        var e = Assert.Throws<ControlException>(() => NetworkConfigLoader.Load(file, """{"Network":"10.245.0.0/16"}""", "DIR/config"))!;
        Assert.That(e.Message, Does.Contain("disagree"));
        Assert.That(NetworkConfigLoader.Load(null, """{"Network":"10.9.0.0/16"}""", "DIR/config").Network.ToString(), Is.EqualTo("10.9.0.0/16"));
        Assert.That(Assert.Throws<ControlException>(() => NetworkConfigLoader.Load(null, null, "DIR/config"))!.Message, Does.Contain("no network config"));
        Assert.That(Assert.Throws<ControlException>(() => NetworkConfigLoader.Load(dir["missing.json"], null, "DIR/config"))!.Message, Does.Contain("cannot read network config"));
    }
}
