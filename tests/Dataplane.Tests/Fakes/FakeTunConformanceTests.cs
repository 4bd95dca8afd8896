using Dataplane.Devices;
using Dataplane.Testing;

namespace Dataplane.Tests.Fakes;

/// <summary>
/// The in-memory TUN against the same assertions as the Linux TUN (LinuxTunConformanceTests), except the kernel's side
/// of the offload header (TunConformanceWithKernelOffloads): the fake hands over whatever header a test injects and keeps
/// what is written, so only the kernel can be tested on what it puts there.
/// </summary>
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
}
