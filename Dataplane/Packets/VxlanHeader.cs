using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>
/// The 8-byte VXLAN header (RFC 7348 §5).
/// </summary>
/// <remarks>
/// <code>
/// |R|R|R|R|I|R|R|R|               Reserved                        | 0
/// |                VXLAN Network Identifier (VNI) |   Reserved    | 4
/// </code>
/// The Linux kernel sends exactly <c>08 00 00 00 | VNI&lt;&lt;8</c> and, unless GBP/GPE/RCO is configured, drops
/// anything else: the I flag is mandatory and any other flag or reserved bit is
/// SKB_DROP_REASON_VXLAN_INVALID_HDR (vxlan_core.c vxlan_rcv, which notes it "diverges from VXLAN RFC"). The RFC
/// says receivers ignore reserved bits; we follow the kernel, because a kernel peer is who we must match.
/// </remarks>
public readonly ref struct VxlanHeader
{
    /// <summary>Header length.</summary>
    public const int Length = 8;

    /// <summary>The only flags word the kernel accepts and sends: the I flag.</summary>
    public const uint FlagsWordI = 0x0800_0000;

    /// <summary>Largest VNI (24 bits).</summary>
    public const uint MaxVni = 0xFF_FFFF;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a header (unchecked).</summary>
    public VxlanHeader(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>
    /// Checked construction with the kernel's strictness: 8 bytes, flags word exactly the I flag, reserved VNI
    /// byte zero. Does not check the VNI value (the caller compares it with its own).
    /// </summary>
    public static bool TryCreate(Span<byte> bytes, out VxlanHeader header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes) != FlagsWordI || bytes[7] != 0)
        {
            reason = DropReason.VxlanInvalidHeader;
            return false;
        }
        header = new VxlanHeader(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>The flags byte (0x08 when valid).</summary>
    public byte Flags => _bytes[0];

    /// <summary>The 24-bit VNI.</summary>
    public uint Vni => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]) >> 8;

    /// <summary>Writes <c>08 00 00 00 | VNI&lt;&lt;8</c>.</summary>
    public static void Write(Span<byte> destination, uint vni)
    {
        Debug.Assert(vni <= MaxVni);
        BinaryPrimitives.WriteUInt32BigEndian(destination, FlagsWordI);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], vni << 8);
    }
}
