using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Control.Tests.Lab;

/// <summary>
/// Proof that a lab node moved its traffic on the default path, batches with the offloads, and not on a fallback
/// that would pass the same interop test: the per-packet loop, a plain TUN, or a socket whose UDP GSO the kernel
/// refused.
/// </summary>
internal static partial class BatchPath
{
    /// <summary>
    /// Call after a bulk TCP transfer sent from node <paramref name="node"/>'s pod; it stops that node's daemon.
    /// From <c>status --json</c>: io batch, the TUN's TSO on, UDP GSO still on (a refusal turns it off for good) and
    /// sendmmsg/recvmmsg on. From the shutdown line: zero GSO fallbacks, and more datagrams sent than packets read
    /// from the TUN (TSO super-packets were read and split; on a per-packet or plain-TUN path they are equal).
    /// </summary>
    public static void AssertRanWithOffloads(Control.Lab.Lab lab, int node)
    {
        var r = DataplaneProcess.Run(["status", "--control-socket", lab.Layout.ControlSocket(node), "--json"]);
        Assert.That(r.Exit, Is.Zero, r.Err);
        var status = JsonDocument.Parse(r.Out).RootElement;
        var offloads = status.GetProperty("offloads");
        TestContext.Out.WriteLine($"node {node}: io {status.GetProperty("io")}, offloads {offloads}");
        Assert.Multiple(() =>
        {
            Assert.That(status.GetProperty("io").GetString(), Is.EqualTo("batch"), $"node {node}: the default io mode");
            Assert.That(offloads.GetProperty("tun_tso").GetBoolean(), Is.True, $"node {node}: TUN with TSO");
            Assert.That(offloads.GetProperty("udp_gso").GetBoolean(), Is.True, $"node {node}: UDP GSO still on after the transfer");
            Assert.That(offloads.GetProperty("mmsg").GetBoolean(), Is.True, $"node {node}: sendmmsg/recvmmsg");
        });

        lab.StopDaemon(node);
        var line = lab.TailLog(node, 40).Split('\n').LastOrDefault(l => l.Contains("Data path stopped", StringComparison.Ordinal));
        Assert.That(line, Is.Not.Null, $"node {node}: no shutdown line in its log:\n{lab.TailLog(node, 40)}");
        TestContext.Out.WriteLine($"node {node}: {line}");
        var m = Summary().Match(line!);
        Assert.That(m.Success, Is.True, $"node {node}: shutdown line not understood: {line}");
        long sent = long.Parse(m.Groups["sent"].Value, CultureInfo.InvariantCulture);
        long reads = long.Parse(m.Groups["reads"].Value, CultureInfo.InvariantCulture);
        Assert.That(long.Parse(m.Groups["fallbacks"].Value, CultureInfo.InvariantCulture), Is.Zero, $"node {node}: GSO fallbacks");
        // A bulk transfer over a TSO TUN reads super-packets of ~10–45 segments, so the ratio is several times this.
        Assert.That(sent, Is.GreaterThan(reads * 3 / 2), $"node {node}: datagrams sent ({sent}) per TUN read ({reads})");
    }

    [GeneratedRegex(@"sent (?<sent>\d+) packets.*read (?<reads>\d+) packets from the TUN.*GSO fallbacks (?<fallbacks>\d+)")]
    private static partial Regex Summary();
}
