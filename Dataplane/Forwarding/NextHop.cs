using Dataplane.Encapsulation;
using Dataplane.Packets;

namespace Dataplane.Forwarding;

/// <summary>
/// Where and how to send a packet for one peer subnet: the peer's underlay endpoint (PublicIP:port),
/// the encapsulation that peer speaks, and for VXLAN the peer's VTEP MAC and VNI.
/// </summary>
public readonly record struct NextHop(
    UnderlayEndpoint Endpoint,
    EncapsulationKind Encapsulation,
    MacAddress VtepMac = default,
    uint Vni = 0);
