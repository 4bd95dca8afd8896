using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests.Kernel;

/// <summary>
/// Two namespaces joined by a veth underlay (198.18.0.1 ↔ 198.18.0.2). "node" holds a kernel VXLAN device programmed
/// exactly as flanneld programs flannel.1 (reference/flannel.md §2.2, §2.4): VNI 1, dstport 8472, nolearning,
/// local = underlay address, MTU 1450, address 10.244.1.0/32, and for the peer subnet 10.244.2.0/24 a permanent
/// neighbour (10.244.2.0 → peer VTEP MAC), a permanent FDB entry (peer MAC → 198.18.0.2) and a route
/// "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink". "peer" is where a remote node would be.
/// </summary>
internal sealed class KernelVxlanLab : IDisposable
{
    public static readonly MacAddress KernelMac = MacAddress.Parse("02:aa:00:00:00:01");
    public static readonly MacAddress PeerMac = MacAddress.Parse("0a:bb:00:00:00:02");
    public const string NodeUnderlay = "198.18.0.1";
    public const string PeerUnderlay = "198.18.0.2";

    private readonly NetnsScope _scope = new();

    public string Node { get; }
    public string Peer { get; }

    public KernelVxlanLab(bool udpChecksum = true)
    {
        try
        {
            Node = _scope.Create("node");
            Peer = _scope.Create("peer");
            _scope.Veth(Node, "eth0", $"{NodeUnderlay}/24", Peer, "eth0", $"{PeerUnderlay}/24");
            // veth offloads the UDP checksum (a capture would see only the pseudo-header sum); compute it in
            // software so the captured datagram carries the checksum a real NIC would put on the wire.
            NetnsScope.Exec(Node, "ethtool -K eth0 tx off");
            NetnsScope.Exec(Node, $"ip link add flannel.1 type vxlan id 1 local {NodeUnderlay} dev eth0 dstport 8472 nolearning" + (udpChecksum ? "" : " noudpcsum"));
            NetnsScope.Exec(Node, $"ip link set flannel.1 address {KernelMac} mtu 1450 up");
            NetnsScope.Exec(Node, "ip addr add 10.244.1.0/32 dev flannel.1");
            NetnsScope.Exec(Node, $"ip neigh replace 10.244.2.0 lladdr {PeerMac} dev flannel.1 nud permanent");
            NetnsScope.Exec(Node, $"bridge fdb replace {PeerMac} dev flannel.1 dst {PeerUnderlay} self permanent");
            NetnsScope.Exec(Node, "ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink");
        }
        catch
        {
            _scope.Dispose();
            throw;
        }
    }

    public void Dispose() => _scope.Dispose();
}
