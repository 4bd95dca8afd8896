using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Dataplane.Testing;
using Dataplane.Tun;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Start-up failures of the data path, with the real executable: each is one clear <c>dataplane: …</c> line on stderr
/// (besides the info log lines), no stack trace, a non-zero exit, and no TUN left behind.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public partial class ErrorPathTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    [Test]
    public void Port_in_use()
    {
        using var world = new NodeAndPeer();
        using var squatter = NetworkNamespace.Run(world.Node, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port));
            return s;
        });
        var daemon = world.Launch(world.RunArgs());
        var line = FailsWithOneLine(world, daemon);
        Assert.That(line, Does.Contain("198.18.0.1:8285").And.Contain("already in use"));
        Assert.That(NodeAndPeer.NetworkRoutes(world.Node), Is.Empty, "a port conflict fails before any route is touched");
        // Issue 13 §3: the lease is acquired before the data path starts, subnet.env written only once it runs (the CNI
        // plugin reads it as "this node is ready"). So here: a lease, and no subnet.env.
        Assert.That(daemon.Log, Does.Contain("Allocated lease 10.244."), "the failure came after the lease, or this proves nothing");
        Assert.That(File.Exists(world.SubnetFile), Is.False, "subnet.env written although the data path never ran");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(world.SubnetFile)!).Where(f => Path.GetFileName(f).Contains("subnet", StringComparison.Ordinal)), Is.Empty, "no temp file either");
    }

    [Test]
    public void A_second_daemon_in_the_same_namespace_fails_naming_the_first_and_leaves_it_intact()
    {
        // Issue 13 §3. Before the per-namespace lock, a second run rewrote the running daemon's lease and subnet.env
        // (it acquires before it binds) and then failed on the port; with another config it could run beside it.
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        var running = world.StartDaemon();
        var sender = world.UdpSocket(world.Node);
        var leaseFiles = Directory.GetFiles(Path.Combine(world.LeaseDir, "subnets")).Order().ToList();
        var leasesBefore = leaseFiles.ToDictionary(f => f, File.ReadAllText);
        var subnetEnvBefore = File.ReadAllText(world.SubnetFile);
        var subnetEnvTime = File.GetLastWriteTimeUtc(world.SubnetFile);
        var routesBefore = NodeAndPeer.NetworkRoutes(world.Node);

        // Same flags, then another subnet file, PublicIP and port: both are the same node to the lock.
        var otherEnv = Path.Combine(world.TempPath, "other", "subnet.env");
        foreach (var args in new[] { world.RunArgs(), ["--lease-dir", world.LeaseDir, "--iface", "eth0", "--subnet-file", otherEnv, "--public-ip", "198.18.0.9", "--net-config-path", WriteOtherConfig(world)] })
        {
            var line = FailsWithOneLine(world, args, tunMayExist: true);
            Assert.That(line, Does.Contain("already running in this network namespace").And.Contain($"pid {running.Pid}"));
        }
        Assert.That(running.Process.HasExited, Is.False, running.Log);
        Assert.That(Directory.GetFiles(Path.Combine(world.LeaseDir, "subnets")).Order(), Is.EqualTo(leaseFiles), "no lease added or removed");
        Assert.That(leaseFiles.ToDictionary(f => f, File.ReadAllText), Is.EqualTo(leasesBefore), "the running daemon's lease is untouched");
        Assert.That(File.ReadAllText(world.SubnetFile), Is.EqualTo(subnetEnvBefore));
        Assert.That(File.GetLastWriteTimeUtc(world.SubnetFile), Is.EqualTo(subnetEnvTime), "subnet.env was not rewritten");
        Assert.That(File.Exists(otherEnv), Is.False);
        Assert.That(NodeAndPeer.LinkExists(world.Node, "flannel1"), Is.False, "the second daemon created no TUN");
        Assert.That(NodeAndPeer.NetworkRoutes(world.Node), Is.EquivalentTo(routesBefore), "the running daemon's routes are untouched");
        sender.SendTo("still flowing"u8, new IPEndPoint(NodeAndPeer.PeerPod, 9999));
        Assert.That(NodeAndPeer.Receive(peer, TimeSpan.FromSeconds(5)), Is.Not.Null, "traffic no longer reaches the peer");

        // Once the first is gone (even SIGKILL: the kernel frees the abstract name), a new daemon starts.
        running.Signal("KILL");
        Assert.That(running.WaitForExit(ExitTimeout), Is.True);
        var next = world.StartDaemon();
        Assert.That(next.Process.HasExited, Is.False, next.Log);
    }

    private static string WriteOtherConfig(NodeAndPeer world)
    {
        var path = Path.Combine(world.TempPath, "other-net.json");
        File.WriteAllText(path, """{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":8286}}""");
        return path;
    }

    [Test]
    public void Interface_without_ipv4()
    {
        using var world = new NodeAndPeer();
        // No dummy driver on every kernel: an unaddressed veth pair inside the node namespace does the same job.
        NetnsScope.Exec(world.Node, "ip link add noip0 type veth peer name noip1");
        NetnsScope.Exec(world.Node, "ip link set noip0 up");
        var line = FailsWithOneLine(world, ["--lease-dir", world.LeaseDir, "--iface", "noip0", "--subnet-file", world.SubnetFile]);
        Assert.That(line, Does.Contain("noip0").And.Contain("IPv4"));
    }

    [Test]
    public void Missing_interface()
    {
        using var world = new NodeAndPeer();
        var line = FailsWithOneLine(world, ["--lease-dir", world.LeaseDir, "--iface", "nosuch0", "--subnet-file", world.SubnetFile]);
        Assert.That(line, Does.Contain("nosuch0"));
    }

    [Test]
    public void No_dev_net_tun()
    {
        Prerequisites.RequireTool("unshare");
        using var world = new NodeAndPeer();
        // A private mount namespace with an empty tmpfs over /dev/net: the daemon sees a kernel without the TUN node.
        var line = FailsWithOneLine(world, world.RunArgs(),
            ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", "mount -t tmpfs none /dev/net && exec \"$0\" \"$@\""]);
        Assert.That(line, Does.Contain("/dev/net/tun").And.Contain("modprobe tun"));
    }

    [Test]
    public void Not_root()
    {
        Prerequisites.RequireTool("setpriv");
        using var world = new NodeAndPeer();
        // nobody must be able to use the lease dir and subnet file, or it would fail earlier for the wrong reason.
        Sh.Run("chmod", ["-R", "a+rwX", world.TempPath]).Check("chmod");
        var line = FailsWithOneLine(world, world.RunArgs(),
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={world.TempPath}"]);
        Assert.That(line, Does.Contain("/dev/net/tun").And.Contain("CAP_NET_ADMIN"));
    }

    private static string FailsWithOneLine(NodeAndPeer world, IEnumerable<string> args, IEnumerable<string>? wrapper = null, bool tunMayExist = false) =>
        FailsWithOneLine(world, world.Launch(args, wrapper), tunMayExist);

    private static string FailsWithOneLine(NodeAndPeer world, NamespacedDaemon daemon, bool tunMayExist = false)
    {
        Assert.That(daemon.WaitForExit(ExitTimeout), Is.True, "did not exit:\n" + daemon.Log);
        var problems = daemon.StdErr.Where(l => !LogLine().IsMatch(l) && l.Trim().Length > 0).ToList();
        TestContext.Out.WriteLine($"exit {daemon.Process.ExitCode}: {string.Join(" / ", problems)}");
        Assert.That(daemon.Process.ExitCode, Is.Not.Zero, daemon.Log);
        Assert.That(problems, Has.Count.EqualTo(1), "exactly one non-log line on stderr:\n" + daemon.Log);
        Assert.That(problems[0], Does.StartWith("dataplane: "));
        Assert.That(daemon.Log, Does.Not.Contain("   at "), "no stack trace");
        if (!tunMayExist)
            Assert.That(NodeAndPeer.LinkExists(world.Node, "flannel0"), Is.False, "no TUN left behind");
        return problems[0];
    }

    // klog header lines (see Control/Commands/Logging.cs), which may continue with an exception text on later lines.
    [GeneratedRegex(@"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [^ :\]]+:\d+\] ")]
    private static partial Regex LogLine();
}
