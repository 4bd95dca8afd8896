using Dataplane.Testing;

namespace Dataplane.Tests.Fakes;

/// <summary>The in-memory underlay against the same assertions as the Linux socket (LinuxUnderlayConformanceTests).</summary>
public class FakeUnderlayConformanceTests : UnderlayConformance
{
    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }

    protected override Pair Create(int batchSize, bool gso, bool gro = false)
    {
        var net = new InMemoryNetwork();
        var a = net.Bind("198.18.0.1", 8285, batchSize, gso, gro);
        var b = net.Bind("198.18.0.2", 8285, batchSize, gso, gro);
        return new Pair(a, a.Local, b, b.Local, new Nothing());
    }
}
