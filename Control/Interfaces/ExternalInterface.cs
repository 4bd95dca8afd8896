using Dataplane.Packets;

namespace Control.Interfaces;

/// <summary>
/// flannel's <c>backend.ExternalInterface</c>: the interface overlay traffic leaves by.
/// </summary>
/// <param name="Name">Interface name.</param>
/// <param name="IfaceAddr">Address to bind on: the IP given to --iface, or the interface's first IPv4.</param>
/// <param name="ExtAddr">Address published as PublicIP: --public-ip, or IfaceAddr.</param>
/// <param name="Mtu">The interface MTU (jumbo frames included).</param>
internal sealed record ExternalInterface(string Name, Ipv4Address IfaceAddr, Ipv4Address ExtAddr, int Mtu);
