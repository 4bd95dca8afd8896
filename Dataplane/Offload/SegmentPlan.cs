namespace Dataplane.Offload;

/// <summary>What a GSO super-packet carries: L4 protocol over IP version.</summary>
public enum SegmentKind : byte
{
    /// <summary>TCP over IPv4.</summary>
    TcpV4,
    /// <summary>TCP over IPv6.</summary>
    TcpV6,
    /// <summary>UDP (USO) over IPv4.</summary>
    UdpV4,
    /// <summary>UDP (USO) over IPv6.</summary>
    UdpV6,
}

/// <summary>
/// How one validated GSO super-packet splits: produced by <see cref="GsoSegmenter.TryPlan"/>, consumed by
/// <see cref="GsoSegmenter.WriteSegmentHeaders"/> together with the same packet bytes.
/// </summary>
/// <remarks>
/// Invariants (checked by TryPlan): <c>0 &lt; IpHeaderLength &lt; HeaderLength = PayloadOffset</c>,
/// <c>PayloadOffset + PayloadLength</c> is the IP packet's length, <c>PayloadLength ≥ 1</c>, <c>SegmentSize ≥ 1</c>,
/// <c>SegmentCount = ⌈PayloadLength / SegmentSize⌉ ≤ GsoSegmenter.MaxSegments</c>. Segment i's payload starts at
/// <c>PayloadOffset + i × SegmentSize</c>; every segment but the last carries exactly SegmentSize bytes.
/// </remarks>
public readonly struct SegmentPlan
{
    internal SegmentPlan(SegmentKind kind, int ipHeaderLength, int headerLength, int payloadLength, int segmentSize)
    {
        Kind = kind;
        IpHeaderLength = ipHeaderLength;
        HeaderLength = headerLength;
        PayloadLength = payloadLength;
        SegmentSize = segmentSize;
        SegmentCount = (payloadLength + segmentSize - 1) / segmentSize;
    }

    /// <summary>L4 protocol and IP version.</summary>
    public SegmentKind Kind { get; }

    /// <summary>IP header length, options included (IPv4 IHL × 4; 40 for IPv6, which may carry no extension headers).</summary>
    public int IpHeaderLength { get; }

    /// <summary>IP + L4 header length: what <see cref="GsoSegmenter.WriteSegmentHeaders"/> writes for every segment.</summary>
    public int HeaderLength { get; }

    /// <summary>Offset of the L4 payload in the super-packet (equals <see cref="HeaderLength"/>).</summary>
    public int PayloadOffset => HeaderLength;

    /// <summary>L4 payload bytes in the whole super-packet.</summary>
    public int PayloadLength { get; }

    /// <summary>Payload bytes per segment (gso_size); the last segment may carry fewer.</summary>
    public int SegmentSize { get; }

    /// <summary>Number of segments.</summary>
    public int SegmentCount { get; }

    /// <summary>True for TCP, false for UDP.</summary>
    public bool IsTcp => Kind is SegmentKind.TcpV4 or SegmentKind.TcpV6;

    /// <summary>True for IPv6, false for IPv4.</summary>
    public bool IsIpv6 => Kind is SegmentKind.TcpV6 or SegmentKind.UdpV6;

    /// <summary>Payload bytes of segment <paramref name="index"/> (0 outside <c>[0, SegmentCount)</c>).</summary>
    public int PayloadLengthOf(int index)
    {
        if ((uint)index >= (uint)SegmentCount)
            return 0;
        return index < SegmentCount - 1 ? SegmentSize : PayloadLength - (SegmentCount - 1) * SegmentSize;
    }

    /// <summary>Offset in the super-packet of segment <paramref name="index"/>'s payload.</summary>
    public int PayloadOffsetOf(int index) => PayloadOffset + index * SegmentSize;

    /// <summary>Total bytes of segment <paramref name="index"/> as a standalone IP packet.</summary>
    public int SegmentLengthOf(int index) => HeaderLength + PayloadLengthOf(index);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Kind} ip={IpHeaderLength} hdr={HeaderLength} payload={PayloadLength} size={SegmentSize} segments={SegmentCount}";
}
