using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

/// <summary>
/// <see cref="UdpUnderlay"/> between two network namespaces against the same assertions as the in-memory fake
/// (FakeUnderlayConformanceTests): sendto/sendmmsg with and without UDP_SEGMENT, recvfrom/recvmmsg.
/// </summary>
[Category("Privileged")]
public class LinuxUnderlayConformanceTests : UnderlayConformance
{
    private sealed class Teardown(NetnsScope scope, UdpUnderlay a, UdpUnderlay b) : IDisposable
    {
        public void Dispose()
        {
            a.Dispose();
            b.Dispose();
            scope.Dispose();
        }
    }

    protected override Pair Create(int batchSize, bool gso, bool gro = false)
    {
        Prerequisites.RequireNetns();
        var scope = new NetnsScope();
        try
        {
            var (na, nb) = TunTestNet.TwoNodes(scope);
            UdpUnderlay Open(string ns, Ipv4Address address) => NetworkNamespace.Run(ns, () => UdpUnderlay.Open(new UdpUnderlayOptions
            {
                LocalEndpoint = new UnderlayEndpoint(address, 8285),
                BatchSize = batchSize,
                SegmentationOffload = gso,
                ReceiveOffload = gro,
            }));
            var a = Open(na, TunTestNet.NodeA);
            var b = Open(nb, TunTestNet.NodeB);
            Assert.That(a.SegmentationOffload, Is.EqualTo(gso), "UDP_SEGMENT is available on this kernel (4.18+)");
            Assert.That(b.ReceiveOffload, Is.EqualTo(gro && batchSize > 1), "UDP_GRO is available on this kernel (5.0+)");
            return new Pair(a, a.LocalEndpoint, b, b.LocalEndpoint, new Teardown(scope, a, b));
        }
        catch
        {
            scope.Dispose();
            throw;
        }
    }
}
