using System.Text.Json;
using Control.Bench;

namespace Control.Tests.Bench;

/// <summary>
/// Runs <c>Dataplane.Bench bench --smoke</c> end to end (lab, every mode whose prerequisites exist, every tool, JSON,
/// Markdown and PNG output) so the harness cannot rot, and checks the written JSON has every metric with a plausible
/// value for each mode that ran. The numbers themselves are not judged: a smoke run is 1 s per test on a shared box.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public sealed class LabBenchmarkSmokeTests
{
    private string _out = "";

    [SetUp]
    public void CreateOutputDirectory() => _out = Directory.CreateTempSubdirectory("dpl-bench-smoke-").FullName;

    [TearDown]
    public void RemoveOutputDirectory()
    {
        if (Directory.Exists(_out))
            Directory.Delete(_out, recursive: true);
    }

    // Ten default modes at ~15 s each in a smoke run, with room for a loaded shared machine.
    [Test, CancelAfter(400_000)]
    public void Smoke_run_writes_every_metric_for_every_mode_it_ran()
    {
        BenchHarness.RequireBenchTools();
        BenchHarness.UseBuiltDataplane();
        var started = DateTime.UtcNow;
        var results = BenchHarness.NewBenchmark().Run(new BenchOptions { Smoke = true, OutputDirectory = _out }, TestContext.Progress);
        TestContext.Progress.WriteLine($"smoke run took {(DateTime.UtcNow - started).TotalSeconds:0.0} s");

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "results.json")));
        var modes = json.RootElement.GetProperty("modes").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);
        Assert.That(modes.Keys, Is.EquivalentTo(BenchModes.Default.Select(m => m.Name)), "every default mode is listed, run or skipped");
        foreach (var name in new[] { "plain", "kernel-vxlan", "udp-per-packet", "udp-batch", "vxlan-batch" })
            Assert.That(modes[name].GetProperty("skipped").ValueKind, Is.EqualTo(JsonValueKind.Null), $"{name} must run: {modes[name].GetProperty("skipped")}");
        bool syscallsCounted = !results.Notes.Any(n => n.StartsWith("syscalls not counted", StringComparison.Ordinal));

        foreach (var (name, mode) in modes)
        {
            if (mode.GetProperty("skipped").ValueKind != JsonValueKind.Null)
            {
                Assert.That(mode.GetProperty("skipped").GetString(), Is.Not.Empty, $"{name}: a skip must say why");
                continue;
            }
            bool daemon = mode.GetProperty("hasDaemon").GetBoolean();
            var rep = mode.GetProperty("repetitions")[0];
            Assert.That(rep.GetProperty("errors").GetArrayLength(), Is.Zero, $"{name}: {rep.GetProperty("errors")}");
            var summary = mode.GetProperty("summary");
            double M(string key)
            {
                Assert.That(summary.TryGetProperty(key, out var s), $"{name} lacks {key}");
                return s.GetProperty("median").GetDouble();
            }
            using (Assert.EnterMultipleScope())
            {
                Assert.That(M(BenchMetric.Tcp1Gbps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.Tcp1Retransmits), Is.GreaterThanOrEqualTo(0), name);
                Assert.That(M(BenchMetric.Tcp4Gbps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.Udp64Kpps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.Udp64Kpps), Is.LessThanOrEqualTo(M(BenchMetric.Udp64SentKpps) * 1.05), $"{name}: delivered ≤ sent");
                Assert.That(M(BenchMetric.Udp1400Kpps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.Udp1400Gbps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.Udp1400SentKpps), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.LatencyP50), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.LatencyP99), Is.GreaterThanOrEqualTo(M(BenchMetric.LatencyP50)), name);
                Assert.That(M(BenchMetric.MachineCpuPerGb), Is.GreaterThan(0), name);
                Assert.That(M(BenchMetric.SoftirqCpuPerGb), Is.GreaterThanOrEqualTo(0), name);
                Assert.That(M(BenchMetric.DataplaneCpuPerGb), daemon ? Is.GreaterThan(0) : Is.GreaterThanOrEqualTo(0), name);
                Assert.That(M(BenchMetric.MachineCsPerMb), Is.GreaterThanOrEqualTo(0), name);
                Assert.That(M(BenchMetric.WireOverhead), Is.EqualTo(BenchModes.Find(name)!.ExpectedOverheadBytes), $"{name}: bytes added per packet on the underlay");
                if (daemon)
                {
                    Assert.That(M(BenchMetric.VoluntaryPerMb) + M(BenchMetric.InvoluntaryPerMb), Is.GreaterThan(0), $"{name}: daemon threads block per packet");
                    Assert.That(M(BenchMetric.SenderCpuPerGb), Is.GreaterThan(0).And.LessThanOrEqualTo(M(BenchMetric.DataplaneCpuPerGb)), $"{name}: the sender is one of the daemons");
                    if (syscallsCounted)
                    {
                        Assert.That(M(BenchMetric.SyscallsPerPacket), Is.GreaterThan(0), name);
                        Assert.That(M(BenchMetric.SyscallsPerMb), Is.GreaterThan(0), name);
                        Assert.That(M(BenchMetric.SenderIoPerSegment), Is.GreaterThan(0), name);
                        if (name.Contains("per-packet", StringComparison.Ordinal))
                        {
                            // One packet per syscall: a TUN read and a UDP send for each data segment, and on the
                            // receiving node a receive and a TUN write; batch modes may go far below 1.
                            Assert.That(M(BenchMetric.SyscallsPerPacket), Is.GreaterThanOrEqualTo(1), name);
                            Assert.That(M(BenchMetric.SenderIoPerSegment), Is.GreaterThanOrEqualTo(1.5), name);
                        }
                    }
                }
                else
                {
                    Assert.That(summary.TryGetProperty(BenchMetric.SyscallsPerPacket, out _), Is.False, $"{name}: no dataplane process to trace");
                }
            }
        }

        var report = File.ReadAllText(Path.Combine(_out, "report.md"));
        foreach (var name in modes.Keys)
            Assert.That(report, Does.Contain(name));
        Assert.That(report, Does.Contain("Smoke run"));
        var pngs = Directory.GetFiles(_out, "*.png");
        Assert.That(pngs.Select(Path.GetFileName), Is.SupersetOf(new[] { "throughput.png", "cpu-per-gb.png", "switches-syscalls-per-mb.png", "syscalls-per-packet.png", "latency.png" }));
        foreach (var png in pngs)
            Assert.That(File.ReadAllBytes(png).Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a }), png);
        Assert.That(Directory.Exists("/run/netns") && Directory.EnumerateFiles("/run/netns", Control.Lab.LabLayout.Prefix + "*").Any(), Is.False, "the lab is torn down");
    }
}
