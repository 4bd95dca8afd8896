using Dataplane.Packets;

namespace Control.Interfaces;

/// <summary>A network interface of the host (of this network namespace), as interface selection needs it.</summary>
/// <param name="Name">Interface name (eth0).</param>
/// <param name="Mtu">MTU in bytes; 0 when unknown.</param>
/// <param name="Ipv4Addresses">IPv4 addresses in the kernel's order (primary first).</param>
internal sealed record HostInterface(string Name, int Mtu, IReadOnlyList<Ipv4Address> Ipv4Addresses);
