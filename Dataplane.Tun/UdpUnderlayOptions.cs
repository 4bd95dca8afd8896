using Dataplane.Packets;

namespace Dataplane.Tun;

/// <summary>
/// Socket settings of a <see cref="UdpUnderlay"/>. Each one names the option it sets and what it does to
/// the outer headers; anything left null keeps the kernel default.
/// </summary>
public sealed record UdpUnderlayOptions
{
    /// <summary>
    /// Address and port to bind. flannel's udp backend binds the chosen interface's address and port
    /// 8285, and sends from the same socket, so the outer source port is 8285 as well. Port 0 lets the
    /// kernel pick one (tests).
    /// </summary>
    public required UnderlayEndpoint LocalEndpoint { get; init; }

    /// <summary>Outer DF bit (IP_MTU_DISCOVER). Default <see cref="DontFragmentPolicy.Clear"/>; use
    /// <see cref="DontFragmentPolicy.KernelDefault"/> to match flannel's udp backend bit for bit.</summary>
    public DontFragmentPolicy DontFragment { get; init; } = DontFragmentPolicy.Clear;

    /// <summary>
    /// Outer TTL (IP_TTL), 1..255. Null: the kernel default, sysctl <c>net.ipv4.ip_default_ttl</c> (64),
    /// which is what both flannel backends send.
    /// </summary>
    public int? TimeToLive { get; init; }

    /// <summary>
    /// Default outer TOS byte (IP_TOS) for datagrams sent without a per-packet TOS. Null: 0, as flannel.
    /// Per-message TOS (for VXLAN ECN) comes with each <see cref="Dataplane.Devices.DatagramBatch"/> message.
    /// </summary>
    public byte? TypeOfService { get; init; }

    /// <summary>
    /// Receive buffer in bytes (SO_RCVBUF; as root SO_RCVBUFFORCE, so it may exceed net.core.rmem_max).
    /// The kernel doubles the value for bookkeeping. A larger buffer absorbs bursts while the pump is busy
    /// writing to the TUN; datagrams beyond it are dropped by the kernel (UDP RcvbufErrors). Null: kernel default (rmem_default, ~208 KiB).
    /// </summary>
    public int? ReceiveBufferSize { get; init; }

    /// <summary>Send buffer in bytes (SO_SNDBUF / SO_SNDBUFFORCE). Null: kernel default (wmem_default).</summary>
    public int? SendBufferSize { get; init; }

    /// <summary>
    /// SO_NO_CHECK: send with a zero UDP checksum ("no checksum", legal for UDP over IPv4, RFC 768). Off
    /// by default: an AF_INET UDP socket computes the checksum (or has the NIC compute it), as flannel and
    /// kernel VXLAN since Linux 4.6 do. For interop tests only.
    /// </summary>
    public bool UnsafeZeroChecksum { get; init; }

    /// <summary>Datagrams one receive call may return (recvmmsg); 1 = flannel's one recv per datagram.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>
    /// Send GSO trains (UDP_SEGMENT, Linux 4.18+) when a batch holds them. Probed at open: a kernel without it leaves
    /// <see cref="UdpUnderlay.SegmentationOffload"/> false. Refused at send time (EIO: the route's device cannot
    /// checksum), it turns itself off for the socket and the datagrams go out one by one.
    /// </summary>
    public bool SegmentationOffload { get; init; }

    /// <summary>
    /// Receive GRO trains (UDP_GRO, Linux 5.0+) in batch receives: the kernel hands over several same-flow datagrams in
    /// one buffer (what a UDP_SEGMENT sender such as ours built), described by <see cref="Dataplane.Buffers.PacketBuffer.Offload"/>
    /// (UdpL4, GsoSize = datagram size). Refused by the kernel, it stays off (<see cref="UdpUnderlay.ReceiveOffload"/>).
    /// </summary>
    public bool ReceiveOffload { get; init; }
}
