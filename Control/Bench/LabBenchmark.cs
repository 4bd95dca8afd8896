using System.Globalization;
using System.Text.Json;
using Control.Lab;

namespace Control.Bench;

/// <summary>
/// The lab benchmark behind <c>dataplane bench</c>: builds a two-node namespace lab once and measures every mode on
/// the same nodes, interleaved (repetition r runs every mode before r + 1 starts, so machine drift spreads over all
/// modes instead of biasing one), then writes results.json, report.md and PNG plots.
/// </summary>
/// <remarks>
/// Per mode and repetition the nodes are reprogrammed (routes, flannel.1 or daemons), the pods re-attached through
/// CNI, and the tests run pod 1 → pod 2: TCP 1 and 4 streams, UDP 64 B and 1400 B packets/s, ping-pong latency, then a
/// separate traced pass for syscalls, and once per mode a short capture for the wire overhead. Every tool runs with a
/// timeout, all traffic stays inside the lab namespaces, and the lab is torn down in <c>finally</c>.
/// </remarks>
internal sealed class LabBenchmark
{
    private const int Nodes = 2;
    private const int IperfBasePort = 5201;
    private const int SockperfPort = 11111;
    private const int UdpSinkPort = 5301;

    /// <summary>ping -s 200: 200 B payload + 8 B ICMP + 20 B IPv4 = the inner packet's IPv4 total length.</summary>
    private const int PingPayload = 200;
    private const int PingIpLength = PingPayload + 28;

    /// <summary>Steps per mode and repetition, for the progress estimate: setup, 7 tests, teardown.</summary>
    private const int StepsPerModeRun = 9;

    private static readonly string[] SyscallBreakdown =
    [
        "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
        "poll", "ppoll", "epoll_wait", "epoll_pwait", "futex", "io_uring_enter",
    ];

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly LabLayout _layout;

    public LabBenchmark(LabLayout? layout = null) => _layout = layout ?? new LabLayout();

    /// <summary>
    /// Runs the benchmark and writes its outputs. Throws <see cref="BenchException"/> for bad options or missing
    /// tools; a mode whose prerequisites are missing or whose setup fails is skipped and the report says why.
    /// </summary>
    public BenchResults Run(BenchOptions options, TextWriter progress)
    {
        var o = options.Resolve();
        foreach (var tool in new[] { "ip", "iperf3", "sockperf", "ping" })
            if (FindTool(tool) is null)
                throw new BenchException($"the benchmark needs '{tool}' (scripts/install-deps.sh installs it)");
        var results = new BenchResults
        {
            Started = DateTimeOffset.Now,
            Machine = DescribeMachine(),
            Settings = new BenchRunSettings(o.Modes, o.Duration.TotalSeconds, o.Repetitions, o.UdpGenerators, o.Smoke),
        };
        if (o.Smoke)
            results.Notes.Add("smoke run: 1 repetition of 1 s tests; the numbers only prove the harness works");
        var modes = o.Modes.Select(n => BenchModes.Find(n)!).ToList();
        foreach (var mode in modes)
        {
            var result = new ModeResult(mode.Name, mode.Description, mode.HasDaemon, mode.ExpectedOverheadBytes)
            {
                Skipped = MissingPrerequisite(mode),
            };
            results.Modes.Add(result);
        }
        var tracer = SyscallTracer.Detect();
        results.Notes.Add(tracer.Description);
        int runnable = results.Modes.Count(m => m.Skipped is null);
        var bar = new BenchProgress(progress, runnable * o.Repetitions * StepsPerModeRun);
        foreach (var m in results.Modes.Where(m => m.Skipped is not null))
            bar.Note($"skipping {m.Name}: {m.Skipped}");
        var lab = new Lab.Lab(_layout);
        WaitForOtherLab(o.Smoke ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(120), bar, results);
        try
        {
            bar.Note($"building the lab ({Nodes} nodes on one underlay)");
            lab.Up(new LabOptions { Nodes = Nodes, StartDaemons = false });
            for (int r = 1; r <= o.Repetitions; r++)
            {
                for (int k = 0; k < modes.Count; k++)
                {
                    if (results.Modes[k].Skipped is not null)
                    {
                        continue;
                    }
                    var run = new ModeRun(this, lab, modes[k], results.Modes[k], o, tracer, bar, r);
                    try
                    {
                        run.Execute();
                    }
                    catch (LabVanishedException ex)
                    {
                        results.Notes.Add($"run aborted in repetition {r}, mode {modes[k].Name}: {ex.Message}");
                        bar.Note("ABORTED: " + ex.Message);
                        r = o.Repetitions;
                        break;
                    }
                }
            }
        }
        finally
        {
            bar.Note("tearing the lab down");
            lab.Down();
        }
        foreach (var m in results.Modes)
            Summarize(m);
        results.Machine.LoadAverageAtEnd = LoadAverage();
        results.Finished = DateTimeOffset.Now;
        Write(results, o, bar);
        return results;
    }

    /// <summary>
    /// Lab names are machine-global and <see cref="Lab.Lab.Up"/> starts by removing any lab, so a lab that is up
    /// (another user's, or one left by a crash) is given a bounded time to go away before it is taken over.
    /// </summary>
    private static void WaitForOtherLab(TimeSpan patience, BenchProgress bar, BenchResults results)
    {
        static bool LabExists() => Directory.Exists("/run/netns")
            && Directory.EnumerateFiles("/run/netns").Any(f => Path.GetFileName(f).StartsWith(LabLayout.Prefix, StringComparison.Ordinal));
        if (!LabExists())
            return;
        bar.Note($"a lab is already up (dpl-* namespaces); waiting up to {patience.TotalSeconds:0} s for it to go away");
        var deadline = DateTime.UtcNow + patience;
        while (LabExists() && DateTime.UtcNow < deadline)
            Thread.Sleep(500);
        if (LabExists())
            results.Notes.Add("a lab was already up at the start and did not go away; it was torn down and replaced (a crashed run's leftovers, or a concurrent lab user whose run this broke)");
    }

    /// <summary>Writes results.json, report.md and (unless disabled or impossible) the plots.</summary>
    private static void Write(BenchResults results, BenchOptions o, BenchProgress bar)
    {
        var dir = Path.GetFullPath(o.OutputDirectory!);
        Directory.CreateDirectory(dir);
        results.OutputDirectory = dir;
        IReadOnlyList<string> plots = [];
        if (!o.NoPlots)
        {
            try
            {
                plots = BenchPlots.Write(results, dir);
            }
            catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException)
            {
                results.Notes.Add($"plots not written: {ex.GetBaseException().Message}");
            }
        }
        File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(results, JsonOptions));
        File.WriteAllText(Path.Combine(dir, "report.md"), BenchReport.Render(results, plots));
        bar.Note($"wrote {dir}/results.json, report.md and {plots.Count} plots");
    }

    /// <summary>Renders report.md again from a run's results.json and the plots beside it (after a report change).</summary>
    public static void RerenderReport(string dir)
    {
        var results = JsonSerializer.Deserialize<BenchResults>(File.ReadAllText(Path.Combine(dir, "results.json")), JsonOptions)
            ?? throw new BenchException($"{dir}/results.json is empty");
        var plots = Directory.GetFiles(dir, "*.png").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        File.WriteAllText(Path.Combine(dir, "report.md"), BenchReport.Render(results, plots));
    }

    private static void Summarize(ModeResult m)
    {
        foreach (var metric in BenchMetric.All)
        {
            var values = m.Repetitions.Where(r => r.Metrics.ContainsKey(metric.Key)).Select(r => r.Metrics[metric.Key]).ToList();
            if (values.Count > 0)
                m.Summary[metric.Key] = MetricSummary.Of(values);
        }
    }

    /// <summary>Null when the mode can run; otherwise why not (the report prints it).</summary>
    private static string? MissingPrerequisite(BenchMode mode)
    {
        if (mode.Daemon is { } daemon)
        {
            var cmd = Lab.Lab.DataplaneCommand();
            LabShell.Result help;
            try
            {
                help = LabShell.Run(cmd[0], [.. cmd.Skip(1), "run", "--help"], timeout: TimeSpan.FromSeconds(30));
            }
            catch (LabException ex)
            {
                return $"cannot run the dataplane executable: {ex.Message}";
            }
            var text = help.StdOut + help.StdErr;
            var missing = daemon.RequiredHelpText.Where(t => !text.Contains(t, StringComparison.Ordinal)).ToList();
            if (help.ExitCode != 0 || missing.Count > 0)
                return $"`dataplane run` does not offer {string.Join(", ", missing.DefaultIfEmpty("a working --help"))} yet (not merged in this build)";
        }
        return null;
    }

    /// <summary>One mode in one repetition: set up, measure, tear down; failures are recorded, never thrown.</summary>
    private sealed class ModeRun(LabBenchmark owner, Lab.Lab lab, BenchMode mode, ModeResult result, BenchOptions o, SyscallTracer tracer, BenchProgress bar, int repetition)
    {
        private readonly RepetitionResult _rep = new(repetition);
        private readonly int _seconds = (int)o.Duration.TotalSeconds;
        private string _pod2 = "";

        private string Label => string.Create(CultureInfo.InvariantCulture, $"rep {repetition}/{o.Repetitions} {mode.Name}");

        private LabLayout Layout => owner._layout;

        public void Execute()
        {
            result.Repetitions.Add(_rep);
            try
            {
                SetUp();
                _pod2 = lab.PodAddress(2);
                WaitReachable();
                bar.Step($"{Label} setup", $"pods {lab.PodAddress(1)} → {_pod2}");
            }
            catch (Exception ex) when (ex is LabException or BenchException or IOException && ex is not LabVanishedException)
            {
                _rep.Errors.Add($"setup: {ex.Message}");
                if (repetition == 1)
                    result.Skipped = $"setup failed: {FirstLine(ex.Message)}";
                bar.Step($"{Label} setup", "FAILED: " + FirstLine(ex.Message));
                bar.Skip(StepsPerModeRun - 2);
                TearDown();
                bar.Step($"{Label} teardown", "done");
                return;
            }
            var servers = new List<BenchProcess>();
            try
            {
                servers.Add(BenchProcess.InNamespace(LabLayout.PodNamespace(2), "iperf3", "-s", "-p", Port(0)));
                servers.Add(BenchProcess.InNamespace(LabLayout.PodNamespace(2), "sockperf", "server", "-i", _pod2, "-p", SockperfPort.ToString(CultureInfo.InvariantCulture)));
                WaitListening(servers);
                Measure("tcp x1", Tcp1);
                Measure("tcp x4", Tcp4);
                Measure("udp 64 B", () => Udp(64, BenchMetric.Udp64Kpps, BenchMetric.Udp64SentKpps));
                Measure("udp 1400 B", () => Udp(1400, BenchMetric.Udp1400Kpps, BenchMetric.Udp1400SentKpps));
                Measure("latency", Latency);
                Measure("traced pass", Traced);
                Measure("wire overhead", Wire);
            }
            finally
            {
                foreach (var s in servers)
                    s.Dispose();
                try
                {
                    TearDown();
                }
                catch (Exception ex) when (ex is LabException or IOException)
                {
                    _rep.Errors.Add($"teardown: {ex.Message}");
                }
                bar.Step($"{Label} teardown", _rep.Errors.Count == 0 ? "done" : $"{_rep.Errors.Count} step(s) failed");
            }
        }

        private static string Port(int g) => (IperfBasePort + g).ToString(CultureInfo.InvariantCulture);

        private void Measure(string step, Func<string> action)
        {
            string outcome;
            try
            {
                outcome = action();
            }
            catch (Exception ex) when (ex is LabException or BenchException or IOException)
            {
                _rep.Errors.Add($"{step}: {ex.Message}");
                outcome = "FAILED: " + FirstLine(ex.Message);
            }
            bar.Step($"{Label} {step}", outcome);
            if (!LabIntact(Layout))
                throw new LabVanishedException();
        }

        private void SetUp()
        {
            if (mode.Kernel is { } kernel)
            {
                kernel.Apply(Layout, Nodes);
            }
            else if (mode.Daemon is { } daemon)
            {
                // Fresh store per run: a lease from a previous mode (another backend) must not be reused.
                var subnets = Path.Combine(Layout.LeaseDir, "subnets");
                if (Directory.Exists(subnets))
                    Directory.Delete(subnets, recursive: true);
                Directory.CreateDirectory(subnets);
                File.WriteAllText(Path.Combine(Layout.LeaseDir, "config"),
                    $"{{\"Network\":\"{LabLayout.Network}\",\"Backend\":{{\"Type\":\"{daemon.Backend}\"}}}}\n");
                for (int i = 1; i <= Nodes; i++)
                    if (File.Exists(Layout.SubnetFile(i)))
                        File.Delete(Layout.SubnetFile(i));
                for (int i = 1; i <= Nodes; i++)
                    lab.StartDaemon(i, new LabOptions { Backend = daemon.Backend, DaemonArgs = daemon.Arguments });
            }
            for (int i = 1; i <= Nodes; i++)
                lab.AttachPod(i);
        }

        private void TearDown()
        {
            for (int i = 1; i <= Nodes; i++)
                PodDetach.Detach(Layout, i);
            if (mode.Kernel is { } kernel)
            {
                kernel.Remove(Layout, Nodes);
            }
            else
            {
                for (int i = 1; i <= Nodes; i++)
                {
                    lab.StopDaemon(i);
                    if (File.Exists(Layout.SubnetFile(i)))
                        File.Delete(Layout.SubnetFile(i));
                }
            }
        }

        /// <summary>Pod 1 must reach pod 2 (daemons may still be learning each other's leases): 40 pings, 1 s each at most.</summary>
        private void WaitReachable()
        {
            string last = "";
            for (int attempt = 0; attempt < 40; attempt++)
            {
                var r = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(1), "ping", "-c", "1", "-W", "1", _pod2], timeout: TimeSpan.FromSeconds(5));
                if (r.ExitCode == 0)
                    return;
                last = (r.StdOut + r.StdErr).Trim();
                // Lab names are machine-global: another `dataplane lab up/down` on this machine removes our namespaces.
                if (!LabIntact(Layout))
                    throw new LabVanishedException();
                if (mode.HasDaemon && Enumerable.Range(1, Nodes).Any(i => lab.DaemonPids(i).Count == 0))
                    throw new BenchException("a daemon exited:\n" + lab.TailLog(1) + "\n" + lab.TailLog(2));
                Thread.Sleep(250);
            }
            throw new BenchException($"pod 1 cannot reach pod 2 ({_pod2}): {last}" + (mode.HasDaemon ? "\n" + lab.TailLog(1) : ""));
        }

        private void WaitListening(List<BenchProcess> servers)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (true)
            {
                var tcp = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(2), "ss", "-Hltn"]).StdOut;
                var udp = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(2), "ss", "-Hlun"]).StdOut;
                bool ready = tcp.Contains(":" + Port(0) + " ", StringComparison.Ordinal)
                    && udp.Contains(":" + SockperfPort.ToString(CultureInfo.InvariantCulture) + " ", StringComparison.Ordinal);
                if (ready)
                    return;
                if (DateTime.UtcNow > deadline || servers.Any(s => s.HasExited))
                    throw new BenchException("iperf3/sockperf servers in pod 2 did not start: " + string.Join(' ', servers.Select(s => s.StdErr.Trim())));
                Thread.Sleep(100);
            }
        }

        private IReadOnlyList<int> DaemonPids() =>
            mode.HasDaemon ? Enumerable.Range(1, Nodes).SelectMany(lab.DaemonPids).ToList() : [];

        private Iperf3Result RunTcp(int streams, int seconds)
        {
            var args = new List<string> { "iperf3", "-c", _pod2, "-p", Port(0), "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J" };
            if (streams > 1)
                args.AddRange(["-P", streams.ToString(CultureInfo.InvariantCulture)]);
            using var client = BenchProcess.InNamespace(LabLayout.PodNamespace(1), [.. args]);
            client.WaitForExit(TimeSpan.FromSeconds(seconds + 30));
            return Iperf3Result.Parse(client.StdOut);
        }

        private string Tcp1()
        {
            var pids = DaemonPids();
            var before = ProcCounters.Read(pids);
            var r = RunTcp(1, _seconds);
            var d = ProcCounters.Read(pids).Since(before);
            double gb = r.ReceivedBytes / 1e9, mb = r.ReceivedBytes / 1e6;
            if (r.ReceivedBytes <= 0)
                throw new BenchException("iperf3 received no bytes");
            Set(BenchMetric.Tcp1Gbps, r.ReceivedBitsPerSecond / 1e9);
            Set(BenchMetric.Tcp1Retransmits, r.Retransmits);
            Set(BenchMetric.SoftirqCpuPerGb, d.MachineSoftirqSeconds / gb);
            Set(BenchMetric.MachineCpuPerGb, d.MachineBusySeconds / gb);
            Set(BenchMetric.MachineCsPerMb, d.MachineContextSwitches / mb);
            if (mode.HasDaemon)
            {
                Set(BenchMetric.DataplaneCpuPerGb, d.ProcessCpuSeconds / gb);
                Set(BenchMetric.VoluntaryPerMb, d.VoluntarySwitches / mb);
                Set(BenchMetric.InvoluntaryPerMb, d.InvoluntarySwitches / mb);
                result.Methods[BenchMetric.DataplaneCpuPerGb] = "utime+stime of the daemon processes";
            }
            else
            {
                Set(BenchMetric.DataplaneCpuPerGb, d.MachineSoftirqSeconds / gb);
                result.Methods[BenchMetric.DataplaneCpuPerGb] = "in-kernel: the machine's softirq time";
            }
            _rep.Raw["tcp1_bytes"] = r.ReceivedBytes;
            _rep.Raw["tcp1_dataplane_cpu_s"] = d.ProcessCpuSeconds;
            _rep.Raw["tcp1_machine_busy_s"] = d.MachineBusySeconds;
            _rep.Raw["tcp1_softirq_s"] = d.MachineSoftirqSeconds;
            _rep.Raw["tcp1_dataplane_voluntary_cs"] = d.VoluntarySwitches;
            _rep.Raw["tcp1_dataplane_involuntary_cs"] = d.InvoluntarySwitches;
            _rep.Raw["tcp1_machine_cs"] = d.MachineContextSwitches;
            return string.Create(CultureInfo.InvariantCulture, $"{r.ReceivedBitsPerSecond / 1e9:0.00} Gbit/s, {d.MachineBusySeconds / gb:0.00} s/GB machine CPU");
        }

        private string Tcp4()
        {
            var r = RunTcp(4, _seconds);
            Set(BenchMetric.Tcp4Gbps, r.ReceivedBitsPerSecond / 1e9);
            return string.Create(CultureInfo.InvariantCulture, $"{r.ReceivedBitsPerSecond / 1e9:0.00} Gbit/s");
        }

        /// <summary>
        /// UDP packets/s: <c>dataplane udp-blast</c> (sendmmsg batches; iperf3's one send per datagram capped near
        /// 130 kpps here, below what the kernel modes deliver) in pod 1 against <c>dataplane udp-sink</c> (recvmmsg) in
        /// pod 2. Delivered = pod 2's Udp InDatagrams increase, which udp_recvmsg counts as the sink reads, so the
        /// sink runs until the counters have been read.
        /// </summary>
        private string Udp(int size, string deliveredKey, string sentKey)
        {
            int generators = Math.Max(1, o.UdpGenerators);
            var dataplane = Lab.Lab.DataplaneCommand();
            long sent = 0;
            using var sink = BenchProcess.InNamespace(LabLayout.PodNamespace(2),
                [.. dataplane, "udp-sink", "--listen", $"0.0.0.0:{UdpSinkPort.ToString(CultureInfo.InvariantCulture)}",
                 "--duration", (_seconds + 60).ToString(CultureInfo.InvariantCulture)]);
            WaitUdpListening(sink, UdpSinkPort);
            var before = UdpCounters(LabLayout.PodNamespace(2));
            var clients = new List<BenchProcess>();
            try
            {
                for (int g = 0; g < generators; g++)
                {
                    clients.Add(BenchProcess.InNamespace(LabLayout.PodNamespace(1), [.. dataplane, "udp-blast",
                        "--to", $"{_pod2}:{UdpSinkPort.ToString(CultureInfo.InvariantCulture)}",
                        "--size", size.ToString(CultureInfo.InvariantCulture), "--duration", _seconds.ToString(CultureInfo.InvariantCulture)]));
                }
                foreach (var c in clients)
                    sent += UdpBlastSent(c.WaitForSuccess(TimeSpan.FromSeconds(_seconds + 30)));
            }
            finally
            {
                foreach (var c in clients)
                    c.Dispose();
            }
            // Datagrams still queued in the sink's socket (or in flight through a daemon) are not counted yet.
            Thread.Sleep(300);
            var after = UdpCounters(LabLayout.PodNamespace(2));
            sink.Interrupt(TimeSpan.FromSeconds(3));
            long delivered = after.InDatagrams - before.InDatagrams;
            double kpps = delivered / (double)_seconds / 1e3;
            Set(deliveredKey, kpps);
            Set(sentKey, sent / (double)_seconds / 1e3);
            if (size == 1400)
                Set(BenchMetric.Udp1400Gbps, delivered * 1400.0 * 8 / _seconds / 1e9);
            _rep.Raw[$"udp{size}_delivered"] = delivered;
            _rep.Raw[$"udp{size}_sent"] = sent;
            _rep.Raw[$"udp{size}_rcvbuf_errors"] = after.RcvbufErrors - before.RcvbufErrors;
            result.Methods["udp_generator"] = $"{generators} `dataplane udp-blast` process(es): one connected UDP socket, sendmmsg(2) batches of {Dataplane.Tun.UdpBlaster.MaxBatchSize} datagrams, unpaced; receiver `dataplane udp-sink` (recvmmsg(2) batches of {Dataplane.Tun.UdpSink.BatchSize}); delivered = pod 2's Udp InDatagrams";
            return string.Create(CultureInfo.InvariantCulture, $"{kpps:0.0} kpps delivered of {sent / (double)_seconds / 1e3:0.0} kpps sent");
        }

        private static void WaitUdpListening(BenchProcess sink, int port)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            var needle = ":" + port.ToString(CultureInfo.InvariantCulture) + " ";
            while (!LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(2), "ss", "-Hlun"]).StdOut.Contains(needle, StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline || sink.HasExited)
                    throw new BenchException("dataplane udp-sink in pod 2 did not start: " + (sink.StdErr + sink.StdOut).Trim());
                Thread.Sleep(50);
            }
        }

        private string Latency()
        {
            using var client = BenchProcess.InNamespace(LabLayout.PodNamespace(1), "sockperf", "ping-pong", "-i", _pod2,
                "-p", SockperfPort.ToString(CultureInfo.InvariantCulture), "-t", _seconds.ToString(CultureInfo.InvariantCulture), "-m", "64");
            client.WaitForExit(TimeSpan.FromSeconds(_seconds + 30));
            var r = SockperfResult.Parse(client.StdOut + client.StdErr);
            Set(BenchMetric.LatencyP50, r.P50Microseconds);
            Set(BenchMetric.LatencyP99, r.P99Microseconds);
            _rep.Raw["latency_observations"] = r.Observations;
            return string.Create(CultureInfo.InvariantCulture, $"p50 {r.P50Microseconds:0.0} µs, p99 {r.P99Microseconds:0.0} µs");
        }

        /// <summary>The separate traced pass: syscalls of both daemons during a 1-stream TCP test, per underlay packet.</summary>
        private string Traced()
        {
            if (!mode.HasDaemon)
                return "no dataplane process to trace (in-kernel)";
            if (!tracer.Available)
                return "tracing unavailable";
            int seconds = Math.Min(_seconds, 3);
            var pids = DaemonPids();
            long ulBefore = UnderlayTxPackets();
            using var trace = tracer.Start(pids, seconds + 1, SyscallBreakdown);
            Thread.Sleep(300); // let perf/strace attach before the traffic starts
            var tcp = RunTcp(1, seconds);
            var counts = trace.Finish(TimeSpan.FromSeconds(seconds + 30));
            long packets = UnderlayTxPackets() - ulBefore;
            if (packets <= 0 || counts.Total <= 0)
                throw new BenchException($"traced pass saw {counts.Total} syscalls over {packets} underlay packets");
            Set(BenchMetric.SyscallsPerPacket, counts.Total / (double)packets);
            Set(BenchMetric.SyscallsPerMb, counts.Total / (tcp.ReceivedBytes / 1e6));
            _rep.Raw["traced_syscalls"] = counts.Total;
            _rep.Raw["traced_underlay_packets"] = packets;
            foreach (var (name, n) in counts.ByName.Where(kv => kv.Value > 0))
                _rep.Raw["traced_per_packet_" + name] = n / (double)packets;
            result.Methods[BenchMetric.SyscallsPerPacket] = tracer.Description;
            return string.Create(CultureInfo.InvariantCulture, $"{counts.Total / (double)packets:0.00} syscalls/packet");
        }

        /// <summary>Once per mode: the overhead on the wire from a capture on node 1's eth0.</summary>
        private string Wire()
        {
            if (result.Methods.ContainsKey(BenchMetric.WireOverhead))
            {
                Set(BenchMetric.WireOverhead, result.Repetitions[0].Metrics.GetValueOrDefault(BenchMetric.WireOverhead, mode.ExpectedOverheadBytes));
                return "wire overhead measured in repetition 1";
            }
            if (FindTool("tcpdump") is null)
            {
                Set(BenchMetric.WireOverhead, mode.ExpectedOverheadBytes);
                result.Methods[BenchMetric.WireOverhead] = "computed from the wire format (tcpdump not installed)";
                return $"{mode.ExpectedOverheadBytes} B (computed)";
            }
            var file = Path.Combine(Path.GetTempPath(), $"dpl-bench-{Environment.ProcessId}-{mode.Name}.pcap");
            try
            {
                using var capture = BenchProcess.InNamespace(LabLayout.NodeNamespace(1), "tcpdump", "-i", "eth0", "-nn", "--immediate-mode", "-U", "-c", "6", "-w", file, "icmp or udp");
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
                while (!capture.StdErr.Contains("listening on", StringComparison.Ordinal) && DateTime.UtcNow < deadline && !capture.HasExited)
                    Thread.Sleep(50);
                LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(1), "ping", "-c", "3", "-i", "0.2", "-W", "1",
                    "-s", PingPayload.ToString(CultureInfo.InvariantCulture), _pod2], timeout: TimeSpan.FromSeconds(10));
                // -c 6 (3 requests + 3 replies) normally ends it; SIGINT only if something was lost.
                if (!capture.HasExited && !WaitExit(capture, TimeSpan.FromSeconds(3)))
                    capture.Interrupt(TimeSpan.FromSeconds(3));
                var overhead = File.Exists(file) ? WireCapture.OverheadBytes(File.ReadAllBytes(file), PingIpLength) : null;
                if (overhead is null)
                    throw new BenchException("the capture on node 1's eth0 held no encapsulated ping: " + capture.StdErr.Trim());
                Set(BenchMetric.WireOverhead, overhead.Value);
                result.Methods[BenchMetric.WireOverhead] = $"measured: tcpdump on node 1's eth0, pings with a {PingIpLength} B inner IPv4 packet";
                return $"{overhead} B/packet on the wire";
            }
            finally
            {
                File.Delete(file);
            }
        }

        private static bool WaitExit(BenchProcess p, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!p.HasExited && DateTime.UtcNow < deadline)
                Thread.Sleep(50);
            return p.HasExited;
        }

        private long UnderlayTxPackets()
        {
            long sum = 0;
            for (int i = 1; i <= Nodes; i++)
            {
                var text = LabShell.Run("ip", ["netns", "exec", LabLayout.NodeNamespace(i), "cat", "/sys/class/net/eth0/statistics/tx_packets"]).StdOut.Trim();
                sum += long.Parse(text, CultureInfo.InvariantCulture);
            }
            return sum;
        }

        private void Set(string key, double value) => _rep.Metrics[key] = value;
    }

    /// <summary>False once the lab's pod namespaces or state directory are gone (someone else ran lab down/up).</summary>
    private static bool LabIntact(LabLayout layout) =>
        Directory.Exists(layout.Root) && Enumerable.Range(1, Nodes).All(i => File.Exists("/run/netns/" + LabLayout.NodeNamespace(i)));

    /// <summary>
    /// Lab names are machine-global, so another lab user (dataplane lab, the end-to-end tests) removing its lab removes
    /// ours: the run stops and says so instead of reporting the wreckage as measurements.
    /// </summary>
    private sealed class LabVanishedException() : BenchException(
        "the lab disappeared under the benchmark: another lab user on this machine (dataplane lab, the end-to-end tests) tore it down; run the benchmark alone");

    /// <summary>Udp InDatagrams and RcvbufErrors of namespace <paramref name="ns"/> (/proc/net/snmp is per namespace).</summary>
    private static (long InDatagrams, long RcvbufErrors) UdpCounters(string ns)
    {
        var text = LabShell.Run("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]).StdOut;
        return ParseUdpSnmp(text);
    }

    /// <summary>The <c>sent</c> count of <c>dataplane udp-blast</c>'s JSON line.</summary>
    internal static long UdpBlastSent(string stdout)
    {
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('{'))
            ?? throw new BenchException($"udp-blast printed no JSON line: {stdout.Trim()}");
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("sent").GetInt64();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new BenchException($"udp-blast output is not understood ({ex.Message}): {line}");
        }
    }

    /// <summary>Parses the "Udp:" header and value lines of /proc/net/snmp.</summary>
    internal static (long InDatagrams, long RcvbufErrors) ParseUdpSnmp(string snmp)
    {
        var lines = snmp.Split('\n').Where(l => l.StartsWith("Udp:", StringComparison.Ordinal)).ToList();
        if (lines.Count < 2)
            throw new BenchException("/proc/net/snmp has no Udp lines");
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Get(string n)
        {
            int i = Array.IndexOf(names, n);
            return i > 0 && i < values.Length ? long.Parse(values[i], CultureInfo.InvariantCulture) : 0;
        }
        return (Get("InDatagrams"), Get("RcvbufErrors"));
    }

    private static MachineInfo DescribeMachine()
    {
        string Read(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "?";
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?"
            : "?";
        var tools = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tool, arg) in new[] { ("iperf3", "--version"), ("sockperf", "--version"), ("perf", "--version"), ("tcpdump", "--version") })
        {
            if (FindTool(tool) is null)
                continue;
            var r = LabShell.Run(tool, [arg], timeout: TimeSpan.FromSeconds(10));
            tools[tool] = (r.StdOut + r.StdErr).Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "?";
        }
        return new MachineInfo(Environment.MachineName, Read("/proc/sys/kernel/osrelease"), cpu, Environment.ProcessorCount, LoadAverage(), tools);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>Full path of a tool on PATH or in the sbin directories, or null.</summary>
    internal static string? FindTool(string tool)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return dirs.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
