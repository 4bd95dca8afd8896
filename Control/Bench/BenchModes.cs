using Control.Lab;

namespace Control.Bench;

/// <summary>The benchmark's modes, in report order. One line per mode.</summary>
internal static class BenchModes
{
    public static readonly IReadOnlyList<BenchMode> All =
    [
        new("plain", "plain routing, no encapsulation (this machine's limit)", 0,
            Kernel: new(PlainRoutingNetwork.Apply, PlainRoutingNetwork.Remove)),
        new("kernel-vxlan", "kernel VXLAN device programmed as flanneld programs flannel.1", 50,
            Kernel: new(KernelVxlanNetwork.Apply, KernelVxlanNetwork.Remove)),
        new("udp-per-packet", "ours, udp backend, one packet per syscall, one thread (flannel's loop: the flannel-equivalent baseline)", 28,
            Daemon: new("udp", ["--io", "per-packet"], ["--io"])),
        new("vxlan-per-packet", "ours, vxlan backend, one packet per syscall, one thread", 50,
            Daemon: new("vxlan", ["--io", "per-packet"], ["--io"])),
        new("udp-per-packet-threads", "ours, udp backend, one packet per syscall, a thread per direction", 28,
            Daemon: new("udp", ["--io", "per-packet-threads"], ["--io"])),
        new("vxlan-per-packet-threads", "ours, vxlan backend, one packet per syscall, a thread per direction", 50,
            Daemon: new("vxlan", ["--io", "per-packet-threads"], ["--io"])),
    ];

    /// <summary>The mode called <paramref name="name"/>, or null.</summary>
    public static BenchMode? Find(string name) => All.FirstOrDefault(m => m.Name == name);
}
