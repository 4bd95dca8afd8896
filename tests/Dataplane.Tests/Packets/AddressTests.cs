using Dataplane.Packets;

namespace Dataplane.Tests;

public class Ipv4AddressTests
{
    [TestCase("10.244.1.2", 0x0AF40102u)]
    [TestCase("0.0.0.0", 0u)]
    [TestCase("255.255.255.255", 0xFFFFFFFFu)]
    public void Parse_RoundTrips(string text, uint value)
    {
        var a = Ipv4Address.Parse(text);
        Assert.That(a.Value, Is.EqualTo(value));
        Assert.That(a.ToString(), Is.EqualTo(text));
    }

    [TestCase("10.244.1")]
    [TestCase("10.244.1.256")]
    [TestCase("10.244.1.2.3")]
    [TestCase("10..1.2")]
    [TestCase("1234.1.1.1")]
    [TestCase(" 10.1.1.1")]
    [TestCase("")]
    public void TryParse_RejectsMalformed(string text) => Assert.That(Ipv4Address.TryParse(text, out _), Is.False);

    [Test]
    public void Prefix_CanonicalisesHostBits()
    {
        var p = Ipv4Prefix.Parse("10.244.1.1/24");
        Assert.That(p.ToString(), Is.EqualTo("10.244.1.0/24"));
        Assert.That(p.Contains(Ipv4Address.Parse("10.244.1.200")), Is.True);
        Assert.That(p.Contains(Ipv4Address.Parse("10.244.2.0")), Is.False);
        Assert.That(Ipv4Prefix.Parse("0.0.0.0/0").Contains(Ipv4Address.Parse("1.2.3.4")), Is.True);
    }

    [Test]
    public void Mac_FormatsAsGo()
    {
        var mac = MacAddress.Parse("C6:D2:32:6F:8F:44");
        Assert.That(mac.ToString(), Is.EqualTo("c6:d2:32:6f:8f:44"));
        var random = MacAddress.NewRandomLocal(new Random(1));
        Assert.That(random.IsLocallyAdministered && !random.IsMulticast, Is.True);
    }
}
