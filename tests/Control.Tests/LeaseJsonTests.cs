using System.Text;
using Control.Leases;
using Dataplane.Packets;

namespace Control.Tests;

public class LeaseJsonTests
{
    [Test]
    public void Udp_lease_is_byte_for_byte_what_flanneld_stores()
    {
        var bytes = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.1")).ToJsonBytes();
        Assert.That(Encoding.UTF8.GetString(bytes), Is.EqualTo("""{"PublicIP":"198.18.0.1","PublicIPv6":null}"""));
    }

    [Test]
    public void Vxlan_lease_is_byte_for_byte_what_flanneld_stores()
    {
        var bytes = LeaseAttributes.ForVxlan(Ipv4Address.Parse("198.18.0.1"), 1, MacAddress.Parse("AA:BB:CC:DD:EE:FF")).ToJsonBytes();
        Assert.That(Encoding.UTF8.GetString(bytes),
            Is.EqualTo("""{"PublicIP":"198.18.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}"""));
    }

    [Test]
    public void Parses_flannel_documentation_example_and_old_formats()
    {
        Assert.That(LeaseAttributes.TryParse("""{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"""u8, out var a, out _), Is.True);
        Assert.That(a!.IsVxlan, Is.True);
        Assert.That(VxlanBackendData.TryParse(a.BackendData, out var d, out _), Is.True);
        Assert.That(d, Is.EqualTo(new VxlanBackendData(1, MacAddress.Parse("c6:d2:32:6f:8f:44"))));
        // Pre-v0.11 vxlan lease: no VNI, no PublicIPv6; lower-case keys as Go accepts.
        Assert.That(LeaseAttributes.TryParse("""{"publicip":"10.0.0.2","backendtype":"vxlan","backenddata":{"vtepmac":"02:00:00:00:00:01"}}"""u8, out var old, out _), Is.True);
        Assert.That(VxlanBackendData.TryParse(old!.BackendData, out var oldData, out _), Is.True);
        Assert.That(oldData.Vni, Is.Zero);
    }

    [Test]
    public void Round_trip_preserves_bytes()
    {
        var original = LeaseAttributes.ForVxlan(Ipv4Address.Parse("198.18.0.9"), 42, MacAddress.Parse("02:11:22:33:44:55"));
        Assert.That(LeaseAttributes.TryParse(original.ToJsonBytes(), out var parsed, out _), Is.True);
        Assert.That(parsed, Is.EqualTo(original));
        Assert.That(parsed!.ToJson(), Is.EqualTo(original.ToJson()));
    }

    [TestCase("")]
    [TestCase("{")]
    [TestCase("[]")]
    [TestCase("""{"PublicIP":"not-an-ip"}""")]
    [TestCase("""{"PublicIPv6":null}""")]
    [TestCase("""{"PublicIP":"1.2.3.4","BackendType":5}""")]
    public void Corrupt_values_are_refused_without_throwing(string text)
    {
        Assert.That(LeaseAttributes.TryParse(Encoding.UTF8.GetBytes(text), out _, out var error), Is.False);
        Assert.That(error, Is.Not.Empty);
    }

    [Test]
    public void Subnet_keys_match_flannels_MakeSubnetKey()
    {
        Assert.That(SubnetKey.Format(Ipv4Prefix.Parse("10.244.1.0/24")), Is.EqualTo("10.244.1.0-24"));
        Assert.That(SubnetKey.TryParse("10.244.1.0-24", out var p) ? p.ToString() : null, Is.EqualTo("10.244.1.0/24"));
        Assert.That(SubnetKey.TryParse("10.244.1.1-24", out _), Is.False, "host bits set");
        Assert.That(SubnetKey.TryParse("junk", out _), Is.False);
        Assert.That(SubnetKey.TryParse("10.244.1.0-24&fc00::-64", out _), Is.False, "dual-stack keys are not ours");
    }
}
