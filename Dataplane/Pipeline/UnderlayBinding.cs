using Dataplane.Devices;
using Dataplane.Encapsulation;

namespace Dataplane.Pipeline;

/// <summary>One underlay socket and the wire format it carries (port 8285 ↔ flannel-udp, 8472 ↔ VXLAN).</summary>
public sealed record UnderlayBinding(IEncapsulation Encapsulation, IUnderlay Underlay);
