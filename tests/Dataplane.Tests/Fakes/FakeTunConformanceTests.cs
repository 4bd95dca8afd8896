using Dataplane.Devices;
using Dataplane.Testing;

namespace Dataplane.Tests.Fakes;

/// <summary>The in-memory TUN against the same assertions as the Linux TUN (LinuxTunConformanceTests).</summary>
public class FakeTunConformanceTests : TunConformance
{
    private sealed class FakeRig(ChannelTunDevice tun) : Rig
    {
        public override ITunDevice Tun => tun;

        public override void StackSends(byte[] payload, int segmentSize = 0)
        {
            Assert.That(segmentSize, Is.Zero, "the fake has no stack to segment with");
            tun.Inject(UdpPacket(Local, Remote, 40000, RemotePort, payload));
        }

        public override byte[]? StackReceives(TimeSpan within)
        {
            var deadline = DateTime.UtcNow + within;
            while (tun.Written.TryTake(out var packet, Math.Max(0, (int)(deadline - DateTime.UtcNow).TotalMilliseconds)))
            {
                if (UdpPayload(packet, Remote, Local, LocalPort) is { } payload)
                    return payload;
            }
            return null;
        }

        public override void Dispose()
        {
        }
    }

    protected override Rig Create(int batchSize, bool offloads) =>
        new FakeRig(new ChannelTunDevice(batchSize, offloads ? TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6 : TunOffloads.None));

    protected override string? WhyNoKernelOffloads =>
        "the fake hands over whatever offload header a test injects and keeps what is written; what the kernel puts in " +
        "the header and does with a written one is only the kernel's (LinuxTunConformanceTests)";
}
