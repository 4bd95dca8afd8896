using System.Net;
using Dataplane.Encapsulation;
using Dataplane.Packets;
using PacketDotNet;

namespace Dataplane.Tests.Encapsulation;

public class IcmpErrorsTests
{
    private static readonly Ipv4Address Unreachable = Ipv4Address.Parse("10.244.9.9");

    [Test]
    public void NetUnreachable_ForUdp_DecodedByPacketDotNet()
    {
        var offender = PacketFactory.Udp(payloadLength: 100, dst: Unreachable);
        var output = new byte[IcmpErrors.MaxLength];
        Assert.That(IcmpErrors.TryBuildNetUnreachable(offender, Unreachable, output, out int n), Is.True);
        Assert.That(n, Is.EqualTo(20 + 8 + 20 + 8));
        var ip = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(output, 0, n));
        Assert.Multiple(() =>
        {
            Assert.That(ip.ValidIPChecksum, Is.True);
            Assert.That(ip.Protocol, Is.EqualTo(ProtocolType.Icmp));
            Assert.That(ip.SourceAddress, Is.EqualTo(IPAddress.Parse("10.244.9.9")));
            Assert.That(ip.DestinationAddress, Is.EqualTo(IPAddress.Parse("10.244.1.2")), "back to the offender's source");
            Assert.That(ip.TimeToLive, Is.EqualTo(64));
            var icmp = ip.Extract<IcmpV4Packet>();
            Assert.That(icmp.TypeCode, Is.EqualTo(IcmpV4TypeCode.UnreachableNet));
            Assert.That(icmp.ValidIcmpChecksum, Is.True);
            Assert.That(icmp.Data, Is.EqualTo(offender.AsSpan(0, 28).ToArray()), "offender's header + first 8 bytes");
        });
    }

    [Test]
    public void EchoRequest_GetsOne_UnlikeFlannel()
    {
        var output = new byte[IcmpErrors.MaxLength];
        Assert.That(IcmpErrors.TryBuildNetUnreachable(PacketFactory.Ping(dst: Unreachable), Unreachable, output, out _), Is.True);
    }

    [Test]
    public void IcmpError_NonFirstFragment_BadSource_GetNone()
    {
        var output = new byte[IcmpErrors.MaxLength];
        var error = PacketFactory.Ping(dst: Unreachable);
        error[20] = 3; // the offender is itself a Destination Unreachable
        Assert.That(IcmpErrors.TryBuildNetUnreachable(error, Unreachable, output, out _), Is.False);

        var fragment = PacketFactory.Udp(dst: Unreachable);
        fragment[6] = 0x00;
        fragment[7] = 0x10; // offset 16 * 8
        new Ipv4Header(fragment).UpdateChecksum();
        Assert.That(IcmpErrors.TryBuildNetUnreachable(fragment, Unreachable, output, out _), Is.False);

        Assert.That(IcmpErrors.TryBuildNetUnreachable(PacketFactory.Udp(src: Ipv4Address.Any, dst: Unreachable), Unreachable, output, out _), Is.False);
        Assert.That(IcmpErrors.TryBuildNetUnreachable(PacketFactory.Udp(dst: Ipv4Address.Parse("239.1.1.1")), Unreachable, output, out _), Is.False);
        Assert.That(IcmpErrors.TryBuildNetUnreachable(new byte[10], Unreachable, output, out _), Is.False);
    }

    [Test]
    public void OffenderWithOptions_IsQuotedWithItsWholeHeader()
    {
        var offender = PacketFactory.Udp(payloadLength: 50, dst: Unreachable, optionsLength: 40);
        var output = new byte[IcmpErrors.MaxLength];
        Assert.That(IcmpErrors.TryBuildNetUnreachable(offender, Unreachable, output, out int n), Is.True);
        Assert.That(n, Is.EqualTo(20 + 8 + 60 + 8));
        Assert.That(output.AsSpan(28, 68).ToArray(), Is.EqualTo(offender.AsSpan(0, 68).ToArray()));
    }
}
