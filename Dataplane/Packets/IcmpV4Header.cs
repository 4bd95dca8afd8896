using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Diagnostics;

namespace Dataplane.Packets;

/// <summary>
/// A view of an ICMPv4 message (RFC 792): type, code, checksum, 4 bytes of rest-of-header, then data.
/// </summary>
public readonly ref struct IcmpV4Header
{
    /// <summary>Header length (type, code, checksum, rest of header).</summary>
    public const int Length = 8;

    /// <summary>Echo Reply.</summary>
    public const byte TypeEchoReply = 0;
    /// <summary>Destination Unreachable.</summary>
    public const byte TypeDestinationUnreachable = 3;
    /// <summary>Source Quench (deprecated, still an error message).</summary>
    public const byte TypeSourceQuench = 4;
    /// <summary>Redirect.</summary>
    public const byte TypeRedirect = 5;
    /// <summary>Echo Request.</summary>
    public const byte TypeEchoRequest = 8;
    /// <summary>Time Exceeded.</summary>
    public const byte TypeTimeExceeded = 11;
    /// <summary>Parameter Problem.</summary>
    public const byte TypeParameterProblem = 12;
    /// <summary>Destination Unreachable code 0: net unreachable.</summary>
    public const byte CodeNetUnreachable = 0;

    /// <summary>Destination-unreachable code 4: fragmentation needed and DF set (RFC 792; next-hop MTU per RFC 1191).</summary>
    public const byte CodeFragmentationNeeded = 4;

    private readonly Span<byte> _bytes;

    /// <summary>Wraps bytes already known to hold a header (unchecked).</summary>
    public IcmpV4Header(Span<byte> bytes)
    {
        Debug.Assert(bytes.Length >= Length);
        _bytes = bytes;
    }

    /// <summary>Checked construction: 8 bytes present.</summary>
    public static bool TryCreate(Span<byte> bytes, out IcmpV4Header header, out DropReason reason)
    {
        header = default;
        if (bytes.Length < Length)
        {
            reason = DropReason.Truncated;
            return false;
        }
        header = new IcmpV4Header(bytes);
        reason = DropReason.None;
        return true;
    }

    /// <summary>Type.</summary>
    public byte Type { get => _bytes[0]; set => _bytes[0] = value; }

    /// <summary>Code.</summary>
    public byte Code { get => _bytes[1]; set => _bytes[1] = value; }

    /// <summary>Checksum over the whole message.</summary>
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[2..], value); }

    /// <summary>The 4 type-specific bytes after the checksum (identifier/sequence for echo, unused for errors).</summary>
    public uint RestOfHeader { get => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]); set => BinaryPrimitives.WriteUInt32BigEndian(_bytes[4..], value); }

    /// <summary>Data after the 8-byte header.</summary>
    public Span<byte> Data => _bytes[Length..];

    /// <summary>
    /// True for the ICMP error types (RFC 1122 §3.2.2: Destination Unreachable, Source Quench, Redirect, Time
    /// Exceeded, Parameter Problem). No ICMP error is ever sent about one of these.
    /// </summary>
    public static bool IsErrorType(byte type) => type is TypeDestinationUnreachable or TypeSourceQuench or TypeRedirect or TypeTimeExceeded or TypeParameterProblem;

    /// <summary>True when the checksum over <paramref name="message"/> verifies.</summary>
    public static bool IsChecksumValid(ReadOnlySpan<byte> message) => Packets.Checksum.Fold(Packets.Checksum.Sum(message)) == 0xFFFF;
}
