using Dataplane.Testing;
using Dataplane.Tun.Netlink;

namespace Dataplane.Tun.Tests;

[Category("Privileged")]
public class NetworkNamespaceTests
{
    [Test]
    public void Run_OpensNetlinkInsideTheNamespace_NotInTheRoot()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        Sh.Ok($"ip netns exec {ns} ip tuntap add dev dptdummy0 mode tun");

        var inside = NetworkNamespace.Run(ns, () =>
        {
            using var nl = new RtNetlink();
            return nl.ListLinks().Select(l => l.Name).ToList();
        });
        using var root = new RtNetlink();
        var outside = root.ListLinks().Select(l => l.Name).ToList();

        Assert.That(inside, Does.Contain("dptdummy0").And.Contain("lo"));
        Assert.That(outside, Does.Not.Contain("dptdummy0"));
    }

    [Test]
    public void Run_FdOpenedInside_KeepsItsNamespaceOnAnotherThread()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var nl = NetworkNamespace.Run(ns, () => new RtNetlink());
        // Used from the test thread (root namespace), the socket still talks to the namespace's kernel state.
        var id = nl.CreateVxlan(new VxlanLinkOptions { Name = "dptvx0", Vni = 42, Port = 4789 }).Index;
        Assert.That(NetnsScope.Exec(ns, "ip -d link show dptvx0"), Does.Contain("vxlan id 42"));
        Assert.That(Sh.Run("ip", ["link", "show", "dptvx0"]).ExitCode, Is.Not.Zero, "must not exist in the root namespace");
        nl.DeleteLink(id);
    }

    [Test]
    public void Run_MissingNamespace_ThrowsNamingIt()
    {
        Prerequisites.RequireRoot();
        var e = Assert.Throws<PlatformException>(() => NetworkNamespace.Run("dpt-does-not-exist", () => 1));
        Assert.That(e!.Message, Does.Contain("/var/run/netns/dpt-does-not-exist").And.Contain("No such file"));
        Assert.That(e.Errno, Is.EqualTo(2));
    }

    [Test]
    public void Run_PropagatesTheActionsException()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        Assert.Throws<InvalidOperationException>(() => NetworkNamespace.Run(ns, () => throw new InvalidOperationException("boom")));
    }
}
