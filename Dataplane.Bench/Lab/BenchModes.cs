using Control.Lab;

namespace Control.Bench;

/// <summary>The benchmark's modes, in report order. One line per mode.</summary>
internal static class BenchModes
{
    /// <summary><c>--modes all</c>: every mode, opt-in ones included.</summary>
    public const string AllKeyword = "all";

    private const string UdpBaseline = "udp-per-packet";
    private const string VxlanBaseline = "vxlan-per-packet";

    // Each variant turns off one technique of the batch default, so its distance from udp-batch is what that
    // technique buys; all run the udp backend because the techniques are the same for both and one backend keeps
    // the default run short.
    public static readonly IReadOnlyList<BenchMode> All =
    [
        new("plain", "plain routing, no encapsulation (this machine's limit)", 0,
            Kernel: new(PlainRoutingNetwork.Apply, PlainRoutingNetwork.Remove)),
        new("host-gw", "ours, host-gw backend: the daemon only programs kernel routes via the peers (flanneld's host-gw), no encapsulation; plain routing's numbers expected", 0,
            Daemon: new("host-gw", [], []), OptIn: true),
        new("kernel-vxlan", "kernel VXLAN device programmed as flanneld programs flannel.1", 50,
            Kernel: new(KernelVxlanNetwork.Apply, KernelVxlanNetwork.Remove)),
        new(UdpBaseline, "ours, udp backend, one packet per syscall, one thread (flannel's loop: the flannel-equivalent baseline)", 28,
            Daemon: new("udp", ["--io", "per-packet"], ["--io"])),
        new(VxlanBaseline, "ours, vxlan backend, one packet per syscall, one thread", 50,
            Daemon: new("vxlan", ["--io", "per-packet"], ["--io"])),
        new("udp-batch", "ours, udp backend, the default: batches and offloads (TSO TUN, UDP GSO, sendmmsg/recvmmsg), one thread", 28,
            Daemon: new("udp", ["--io", "batch"], ["batch"]), Baseline: UdpBaseline),
        new("vxlan-batch", "ours, vxlan backend, the default: batches and offloads, one thread", 50,
            Daemon: new("vxlan", ["--io", "batch"], ["batch"]), Baseline: VxlanBaseline),
        new("udp-batch-no-tso", "udp-batch without the offload TUN (--tun-tso=false): the kernel segments before the TUN, one read per segment", 28,
            Daemon: new("udp", ["--io", "batch", "--tun-tso=false"], ["--tun-tso"]), Baseline: UdpBaseline),
        new("udp-batch-no-gso", "udp-batch without UDP GSO (--udp-gso=false): a super-packet's datagrams go out as separate messages of one sendmmsg", 28,
            Daemon: new("udp", ["--io", "batch", "--udp-gso=false"], ["--udp-gso"]), Baseline: UdpBaseline),
        new("udp-batch-no-gro", "udp-batch without UDP GRO on the receiving socket (--udp-gro=false): a peer's GSO train arrives datagram by datagram", 28,
            Daemon: new("udp", ["--io", "batch", "--udp-gro=false"], ["--udp-gro"]), Baseline: UdpBaseline),
        new("udp-batch-no-mmsg", "udp-batch with one packet per system call (--mmsg=false): one TUN read (still a super-packet with TSO), one UDP message (still a GSO train) and one receive per call", 28,
            Daemon: new("udp", ["--io", "batch", "--mmsg=false"], ["--mmsg"]), Baseline: UdpBaseline),
        new("udp-batch-threads", "udp-batch with a thread per direction (--io batch-threads)", 28,
            Daemon: new("udp", ["--io", "batch-threads"], ["batch-threads"]), Baseline: UdpBaseline),
        new("udp-per-packet-threads", "ours, udp backend, one packet per syscall, a thread per direction", 28,
            Daemon: new("udp", ["--io", "per-packet-threads"], ["--io"]), Baseline: UdpBaseline, OptIn: true),
        new("vxlan-per-packet-threads", "ours, vxlan backend, one packet per syscall, a thread per direction", 50,
            Daemon: new("vxlan", ["--io", "per-packet-threads"], ["--io"]), Baseline: VxlanBaseline, OptIn: true),
    ];

    /// <summary>
    /// What <c>Dataplane.Bench bench</c> runs without <c>--modes</c>. host-gw is opt-in: its daemon carries no packet, so
    /// the per-daemon metrics (CPU, context switches, syscalls per packet) are empty for it; machine-wide numbers compare
    /// it with plain routing. The per-packet thread modes are opt-in: the
    /// 2026-11-25 run answered what a thread per direction buys, and at ~40 s per mode and repetition the ten
    /// default modes × 3 repetitions already take ~22 minutes.
    /// </summary>
    public static IReadOnlyList<BenchMode> Default => All.Where(m => !m.OptIn).ToList();

    /// <summary>The mode called <paramref name="name"/>, or null.</summary>
    public static BenchMode? Find(string name) => All.FirstOrDefault(m => m.Name == name);
}
