using System.Globalization;
using System.Text.Json;
using Control.Lab;

namespace Control.Bench;

// One mode in one repetition, split out of LabBenchmark.cs to keep files small (style rule 8).
internal sealed partial class LabBenchmark
{
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
                    // host-gw leaves its peer routes in place on exit (as flanneld's): they would win over the next
                    // mode's device route and carry its traffic unencapsulated.
                    if (mode.Daemon?.Backend == "host-gw")
                        LabShell.InNs(LabLayout.NodeNamespace(i), $"ip -4 route flush root {LabLayout.Network} dev eth0");
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

        /// <summary>Node 1's daemon: the sending side, since pod 1 runs every client.</summary>
        private IReadOnlyList<int> SenderPids() => mode.HasDaemon ? lab.DaemonPids(1) : [];

        private Iperf3Result RunTcp(int streams, int seconds)
        {
            var args = new List<string> { "iperf3", "-c", _pod2, "-p", Port(0), "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J" };
            if (streams > 1)
                args.AddRange(["-P", streams.ToString(CultureInfo.InvariantCulture)]);
            for (int attempt = 1; ; attempt++)
            {
                using var client = BenchProcess.InNamespace(LabLayout.PodNamespace(1), [.. args]);
                client.WaitForExit(TimeSpan.FromSeconds(seconds + 30));
                try
                {
                    return Iperf3Result.Parse(client.StdOut);
                }
                catch (BenchException ex) when (attempt < 10 && ex.Message.Contains("server is busy", StringComparison.Ordinal))
                {
                    // iperf3 -s serves one test at a time, and on a loaded machine it may still be closing the
                    // previous test when the next client connects; it refuses without measuring, so waiting is safe.
                    Thread.Sleep(500);
                }
            }
        }

        private string Tcp1()
        {
            var pids = DaemonPids();
            var senderPids = SenderPids();
            var before = ProcCounters.Read(pids);
            double senderBefore = ProcCounters.CpuSecondsOf(senderPids);
            var r = RunTcp(1, _seconds);
            double senderCpu = ProcCounters.CpuSecondsOf(senderPids) - senderBefore;
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
                Set(BenchMetric.SenderCpuPerGb, senderCpu / gb);
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
            _rep.Raw["tcp1_sender_dataplane_cpu_s"] = senderCpu;
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
        /// UDP packets/s: <c>Dataplane.Bench udp-blast</c> (sendmmsg batches; iperf3's one send per datagram capped near
        /// 130 kpps here, below what the kernel modes deliver) in pod 1 against <c>Dataplane.Bench udp-sink</c> (recvmmsg) in
        /// pod 2. Delivered = pod 2's Udp InDatagrams increase, which udp_recvmsg counts as the sink reads, so the
        /// sink runs until the counters have been read.
        /// </summary>
        private string Udp(int size, string deliveredKey, string sentKey)
        {
            int generators = Math.Max(1, o.UdpGenerators);
            var generator = GeneratorCommand();
            long sent = 0;
            using var sink = BenchProcess.InNamespace(LabLayout.PodNamespace(2),
                [.. generator, "udp-sink", "--listen", $"0.0.0.0:{UdpSinkPort.ToString(CultureInfo.InvariantCulture)}",
                 "--duration", (_seconds + 60).ToString(CultureInfo.InvariantCulture)]);
            WaitUdpListening(sink, UdpSinkPort);
            var before = UdpCounters(LabLayout.PodNamespace(2));
            var clients = new List<BenchProcess>();
            try
            {
                for (int g = 0; g < generators; g++)
                {
                    clients.Add(BenchProcess.InNamespace(LabLayout.PodNamespace(1), [.. generator, "udp-blast",
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
            result.Methods["udp_generator"] = $"{generators} `Dataplane.Bench udp-blast` process(es): one connected UDP socket, sendmmsg(2) batches of {Dataplane.Tun.UdpBlaster.MaxBatchSize} datagrams, unpaced; receiver `Dataplane.Bench udp-sink` (recvmmsg(2) batches of {Dataplane.Tun.UdpSink.BatchSize}); delivered = pod 2's Udp InDatagrams";
            return string.Create(CultureInfo.InvariantCulture, $"{kpps:0.0} kpps delivered of {sent / (double)_seconds / 1e3:0.0} kpps sent");
        }

        private static void WaitUdpListening(BenchProcess sink, int port)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            var needle = ":" + port.ToString(CultureInfo.InvariantCulture) + " ";
            while (!LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(2), "ss", "-Hlun"]).StdOut.Contains(needle, StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline || sink.HasExited)
                    throw new BenchException("Dataplane.Bench udp-sink in pod 2 did not start: " + (sink.StdErr + sink.StdOut).Trim());
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

        /// <summary>
        /// The separate traced pass: syscalls of each daemon during a 1-stream TCP test (one trace session per daemon,
        /// so the sending side can be told apart), per inner packet carried. Inner packets are counted in the pods
        /// (Tcp OutSegs), not on the underlay: a veth counts a UDP GSO train as one packet.
        /// </summary>
        private string Traced()
        {
            if (!mode.HasDaemon)
                return "no dataplane process to trace (in-kernel)";
            if (!tracer.Available)
                return "tracing unavailable";
            int seconds = Math.Min(_seconds, 3);
            var daemons = Enumerable.Range(1, Nodes).Select(lab.DaemonPids).ToList();
            long segs1Before = TcpOutSegs(LabLayout.PodNamespace(1)), segs2Before = TcpOutSegs(LabLayout.PodNamespace(2));
            long ulBefore = UnderlayTxPackets(1), ul2Before = UnderlayTxPackets(2);
            var sessions = new List<SyscallTracer.Session>();
            try
            {
                foreach (var pids in daemons)
                    sessions.Add(tracer.Start(pids, seconds + 1, SyscallBreakdown));
                Thread.Sleep(300); // let perf/strace attach before the traffic starts
                var tcp = RunTcp(1, seconds);
                var counts = sessions.Select(t => t.Finish(TimeSpan.FromSeconds(seconds + 30))).ToList();
                long segs1 = TcpOutSegs(LabLayout.PodNamespace(1)) - segs1Before, segs2 = TcpOutSegs(LabLayout.PodNamespace(2)) - segs2Before;
                long ul1 = UnderlayTxPackets(1) - ulBefore, ul2 = UnderlayTxPackets(2) - ul2Before;
                var both = counts.Aggregate((a, b) => a.Plus(b));
                if (TracedPass.SyscallsPerPacket(both, segs1, segs2) is not { } perPacket)
                    throw new BenchException($"traced pass saw {both.Total} syscalls over {segs1} + {segs2} TCP segments");
                Set(BenchMetric.SyscallsPerPacket, perPacket);
                Set(BenchMetric.SyscallsPerMb, both.Total / (tcp.ReceivedBytes / 1e6));
                var senderIo = TracedPass.SenderIoPerSegment(counts[0], segs1);
                if (senderIo is { } io)
                    Set(BenchMetric.SenderIoPerSegment, io);
                else
                    result.Methods[BenchMetric.SenderIoPerSegment] = $"not measured: no per-syscall tracepoint for one of {string.Join('/', TracedPass.SenderIoSyscalls)} here";
                _rep.Raw["traced_syscalls"] = both.Total;
                _rep.Raw["traced_sender_syscalls"] = counts[0].Total;
                _rep.Raw["traced_pod1_tcp_segments"] = segs1;
                _rep.Raw["traced_pod2_tcp_segments"] = segs2;
                _rep.Raw["traced_underlay_packets"] = ul1 + ul2;
                _rep.Raw["traced_node1_underlay_tx_packets"] = ul1;
                foreach (var (name, n) in both.ByName.Where(kv => kv.Value > 0))
                    _rep.Raw["traced_per_packet_" + name] = n / (double)(segs1 + segs2);
                foreach (var (name, n) in counts[0].ByName.Where(kv => kv.Value > 0))
                    _rep.Raw["traced_sender_per_segment_" + name] = n / (double)segs1;
                result.Methods[BenchMetric.SyscallsPerPacket] = tracer.Description;
                return string.Create(CultureInfo.InvariantCulture,
                    $"{perPacket:0.00} syscalls/packet; sending node {(senderIo is { } s ? s.ToString("0.000", CultureInfo.InvariantCulture) : "?")} TUN reads + UDP sends per segment");
            }
            finally
            {
                foreach (var t in sessions)
                    t.Dispose();
            }
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

        /// <summary>Node <paramref name="node"/>'s eth0 tx_packets (skbs: a GSO train is one).</summary>
        private static long UnderlayTxPackets(int node)
        {
            var text = LabShell.Run("ip", ["netns", "exec", LabLayout.NodeNamespace(node), "cat", "/sys/class/net/eth0/statistics/tx_packets"]).StdOut.Trim();
            return long.Parse(text, CultureInfo.InvariantCulture);
        }

        private void Set(string key, double value) => _rep.Metrics[key] = value;
    }
}
