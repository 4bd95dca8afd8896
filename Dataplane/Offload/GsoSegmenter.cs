// Placeholder with the agreed contract until the offload branch lands (it replaces this file).
using Dataplane.Buffers;
using Dataplane.Diagnostics;

namespace Dataplane.Offload;

/// <summary>Kind of super-packet.</summary>
public enum SegmentKind
{
    /// <summary>TCP over IPv4.</summary>
    TcpV4,
    /// <summary>TCP over IPv6.</summary>
    TcpV6,
    /// <summary>UDP over IPv4.</summary>
    UdpV4,
    /// <summary>UDP over IPv6.</summary>
    UdpV6,
}

/// <summary>How a super-packet splits.</summary>
public readonly record struct SegmentPlan(SegmentKind Kind, int IpHeaderLength, int HeaderLength, int PayloadOffset, int PayloadLength, int SegmentSize, int SegmentCount)
{
    /// <summary>Payload bytes of segment <paramref name="index"/>.</summary>
    public int PayloadLengthOf(int index) => Math.Min(SegmentSize, PayloadLength - index * SegmentSize);
}

/// <summary>Userspace GSO.</summary>
public static class GsoSegmenter
{
    /// <summary>Plans the split.</summary>
    public static DropReason TryPlan(ReadOnlySpan<byte> packet, in VirtioNetHeader header, out SegmentPlan plan)
    {
        plan = default;
        return DropReason.BadOffloadHeader;
    }

    /// <summary>Writes segment headers.</summary>
    public static int WriteSegmentHeaders(ReadOnlySpan<byte> packet, in SegmentPlan plan, int index, Span<byte> destination) => 0;

    /// <summary>Completes a partial checksum.</summary>
    public static DropReason CompleteChecksum(Span<byte> packet, in VirtioNetHeader header) => DropReason.BadOffloadHeader;
}
