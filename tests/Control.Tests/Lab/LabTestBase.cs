using Control.Lab;
using Dataplane.Packets;

namespace Control.Tests.Lab;

/// <summary>
/// A lab end-to-end fixture: each test builds its own lab (own state dir) and tears it down, also when it fails (then
/// node 1's log and routes go to the test output). Helpers for node and pod namespaces and commands in them.
/// </summary>
public abstract class LabTestBase
{
    /// <summary>The test's lab.</summary>
    private protected Control.Lab.Lab Lab { get; private set; } = null!;

    /// <summary>Tools the fixture needs beyond the lab's own.</summary>
    protected virtual IEnumerable<string> ExtraTools => [];

    [SetUp]
    public void SetUpLab()
    {
        LabTesting.RequireLabTools();
        foreach (var tool in ExtraTools)
            Dataplane.Testing.Prerequisites.RequireTool(tool);
        Lab = LabTesting.NewLab(out _);
    }

    [TearDown]
    public void TearDownLab()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed && Lab is not null)
            TestContext.Out.WriteLine($"-- node 1 log:\n{Lab.TailLog(1, 60)}\n-- node 1 routes:\n{Routes(1)}");
        Lab?.Down();
    }

    protected static string Node(int i) => LabLayout.NodeNamespace(i);

    protected static string Pod(int i) => LabLayout.PodNamespace(i);

    /// <summary><c>ip -4 route show</c> in node i.</summary>
    protected static string Routes(int i) => LabTesting.InNs(Node(i), "ip", "-4", "route", "show").StdOut;

    /// <summary>Runs <paramref name="command"/> (split on spaces) in <paramref name="ns"/>; asserts it succeeds.</summary>
    protected static void Sh(string ns, string command)
    {
        var r = LabTesting.InNs(ns, command.Split(' '));
        Assert.That(r.ExitCode, Is.Zero, $"{command}: {r.StdErr}");
    }

    /// <summary>The lease file of <paramref name="subnet"/> in the lab's embedded store.</summary>
    private protected string LeasePath(Ipv4Prefix subnet) => Path.Combine(Lab.Layout.LeaseDir, "subnets", subnet.ToString().Replace('/', '-'));

    /// <summary>Node i's subnet, from FLANNEL_SUBNET in its subnet.env.</summary>
    private protected Ipv4Prefix SubnetOf(int i)
    {
        var line = File.ReadAllLines(Lab.Layout.SubnetFile(i)).Single(l => l.StartsWith("FLANNEL_SUBNET=", StringComparison.Ordinal));
        var parts = line[15..].Split('/');
        return new Ipv4Prefix(Ipv4Address.Parse(parts[0]), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
