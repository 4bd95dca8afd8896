using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>
/// A view of an IPv4 packet (RFC 791) over its bytes: the header, options and payload. Never allocates.
/// </summary>
/// <remarks>
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |  0
/// |         Identification        |Flags|      Fragment Offset    |  4
/// |  Time to Live |    Protocol   |         Header Checksum       |  8
/// |                       Source Address                          | 12
/// |                    Destination Address                        | 16
/// |                    Options                    |    Padding    | 20
/// </code>
/// Use <see cref="TryCreate"/> for untrusted bytes; the constructor trusts its caller (Debug.Assert only).
/// </remarks>
public readonly ref struct Ipv4Header
{
    /// <summary>Smallest header (IHL 5).</summary>
    public const int MinimumLength = 20;
    /// <summary>Largest header (IHL 15).</summary>
    public const int MaximumLength = 60;

    private const int VersionIhl = 0, Tos = 1, TotalLen = 2, Id = 4, FlagsFrag = 6, Ttl = 8, Proto = 9, Csum = 10, Src = 12, Dst = 16;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a valid header (unchecked).</summary>
    public Ipv4Header(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= MinimumLength);
        _bytes = bytes;
    }

    /// <summary>
    /// Checked construction for untrusted bytes: version 4, IHL ≥ 5 and inside the buffer, Total Length at least
    /// the header and at most the buffer. Bytes past Total Length (link padding) are allowed; <see cref="Packet"/>
    /// excludes them.
    /// </summary>
    public static bool TryCreate(Span<byte> bytes, out Ipv4Header header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < MinimumLength)
        {
            reason = DropReason.Truncated;
            return false;
        }
        if (bytes[VersionIhl] >> 4 != 4)
        {
            reason = DropReason.BadIpVersion;
            return false;
        }
        int ihl = (bytes[VersionIhl] & 0xF) * 4;
        if (ihl < MinimumLength || ihl > bytes.Length)
        {
            reason = DropReason.BadIpHeaderLength;
            return false;
        }
        int total = BinaryPrimitives.ReadUInt16BigEndian(bytes[TotalLen..]);
        if (total < ihl || total > bytes.Length)
        {
            reason = DropReason.BadTotalLength;
            return false;
        }
        header = new Ipv4Header(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>The underlying bytes (header onwards, as given).</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>Version (4).</summary>
    public int Version => _bytes[VersionIhl] >> 4;

    /// <summary>Header length in bytes (IHL × 4).</summary>
    public int HeaderLength => (_bytes[VersionIhl] & 0xF) * 4;

    /// <summary>Type of Service / DS field (DSCP in the top 6 bits, ECN in the low 2).</summary>
    public byte TypeOfService { get => _bytes[Tos]; set => _bytes[Tos] = value; }

    /// <summary>Total Length: header plus payload.</summary>
    public ushort TotalLength { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[TotalLen..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[TotalLen..], value); }

    /// <summary>Identification.</summary>
    public ushort Identification { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Id..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Id..], value); }

    /// <summary>Don't Fragment flag.</summary>
    public bool DontFragment => (_bytes[FlagsFrag] & 0x40) != 0;

    /// <summary>More Fragments flag.</summary>
    public bool MoreFragments => (_bytes[FlagsFrag] & 0x20) != 0;

    /// <summary>Fragment Offset in 8-byte units.</summary>
    public int FragmentOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsFrag..]) & 0x1FFF;

    /// <summary>Time to Live.</summary>
    public byte TimeToLive { get => _bytes[Ttl]; set => _bytes[Ttl] = value; }

    /// <summary>Protocol of the payload.</summary>
    public byte Protocol => _bytes[Proto];

    /// <summary>Header Checksum as stored.</summary>
    public ushort HeaderChecksum { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Csum..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Csum..], value); }

    /// <summary>Source Address.</summary>
    public Ipv4Address SourceAddress { get => Ipv4Address.Read(_bytes[Src..]); set => value.Write(_bytes[Src..]); }

    /// <summary>Destination Address.</summary>
    public Ipv4Address DestinationAddress { get => Ipv4Address.Read(_bytes[Dst..]); set => value.Write(_bytes[Dst..]); }

    /// <summary>The options (empty for IHL 5).</summary>
    public Span<byte> Options => _bytes[MinimumLength..HeaderLength];

    /// <summary>The header including options.</summary>
    public Span<byte> Header => _bytes[..HeaderLength];

    /// <summary>The packet up to Total Length.</summary>
    public Span<byte> Packet => _bytes[..TotalLength];

    /// <summary>The payload: after the header, up to Total Length.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..TotalLength];

    /// <summary>True when the stored header checksum verifies.</summary>
    public bool IsChecksumValid => Checksum.Fold(Checksum.Sum(Header)) == 0xFFFF;

    /// <summary>Recomputes and stores the header checksum.</summary>
    public void UpdateChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = Checksum.Compute(Header);
    }

    /// <summary>
    /// Decrements TTL and patches the checksum incrementally (RFC 1624), as flannel's proxy
    /// (<c>decrement_ttl</c>, proxy_amd64.c) and the kernel's <c>ip_decrease_ttl</c> do. Returns false, leaving
    /// the packet untouched, when the packet must be dropped: TTL 1 would reach 0 (flannel drops there), and TTL 0
    /// (flannel's <c>--ttl</c> on a u8 wraps to 255 and forwards it; a router must not, RFC 1812 §5.3.1).
    /// </summary>
    public bool TryDecrementTimeToLive()
    {
        byte ttl = _bytes[Ttl];
        if (ttl <= 1)
            return false;
        // The TTL is the high byte of the 16-bit word at offset 8 (TTL, Protocol): that word drops by 0x0100.
        ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(_bytes[Ttl..]);
        _bytes[Ttl] = (byte)(ttl - 1);
        HeaderChecksum = Checksum.Update(HeaderChecksum, oldWord, (ushort)(oldWord - 0x0100));
        return true;
    }

    /// <summary>
    /// Writes a 20-byte header (no options) with a computed checksum into <paramref name="destination"/>.
    /// </summary>
    public static Ipv4Header Write(Span<byte> destination, in Ipv4HeaderFields fields)
    {
        var h = destination[..MinimumLength];
        h[VersionIhl] = 0x45;
        h[Tos] = fields.TypeOfService;
        BinaryPrimitives.WriteUInt16BigEndian(h[TotalLen..], fields.TotalLength);
        BinaryPrimitives.WriteUInt16BigEndian(h[Id..], fields.Identification);
        BinaryPrimitives.WriteUInt16BigEndian(h[FlagsFrag..], (ushort)((fields.DontFragment ? 0x4000 : 0) | (fields.MoreFragments ? 0x2000 : 0) | (fields.FragmentOffset & 0x1FFF)));
        h[Ttl] = fields.TimeToLive;
        h[Proto] = fields.Protocol;
        fields.SourceAddress.Write(h[Src..]);
        fields.DestinationAddress.Write(h[Dst..]);
        var header = new Ipv4Header(destination);
        header.UpdateChecksum();
        return header;
    }
}

/// <summary>Field values for <see cref="Ipv4Header.Write"/> (gVisor's IPv4Fields shape).</summary>
public readonly record struct Ipv4HeaderFields(
    byte TypeOfService,
    ushort TotalLength,
    ushort Identification,
    bool DontFragment,
    byte TimeToLive,
    byte Protocol,
    Ipv4Address SourceAddress,
    Ipv4Address DestinationAddress,
    bool MoreFragments = false,
    int FragmentOffset = 0);
