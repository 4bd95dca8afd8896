using Dataplane.Encapsulation;
using Dataplane.Packets;

namespace Dataplane.Forwarding;

/// <summary>
/// Where and how to send a packet for one peer subnet: the peer's underlay endpoint (PublicIP:port),
/// the encapsulation that peer speaks, and for VXLAN the peer's VTEP MAC and VNI. <see cref="CounterSlot"/> is the
/// peer's slot in <see cref="Diagnostics.PeerTraffic"/> (0: not counted per peer), set by the data path when it
/// installs the route, so the outbound pump counts per peer without a second lookup.
/// </summary>
public readonly record struct NextHop(
    UnderlayEndpoint Endpoint,
    EncapsulationKind Encapsulation,
    MacAddress VtepMac = default,
    uint Vni = 0,
    int CounterSlot = 0);
