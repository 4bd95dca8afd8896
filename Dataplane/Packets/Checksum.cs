using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Dataplane.Packets;

/// <summary>
/// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
/// </summary>
/// <remarks>
/// The one's-complement sum does not depend on byte order (RFC 1071 §2(B)): we add native-order words into a
/// 64-bit accumulator (no end-around carry needed until the final fold) and swap once at the end. Partial sums
/// (<see cref="Sum"/>) can be chained across spans as long as each span but the last has even length.
/// Large inputs use 256/128-bit vectors, 32 bytes per step, widening 32-bit lanes into 64-bit accumulators;
/// the unrolled-accumulator approach is what made wireguard-go's checksum ~57% faster (performance.md §1.1).
/// </remarks>
public static class Checksum
{
    /// <summary>
    /// Adds <paramref name="data"/> to a running native-order partial sum. Chain calls only at even offsets.
    /// </summary>
    public static ulong Sum(ReadOnlySpan<byte> data, ulong initial = 0)
    {
        ulong acc0 = initial, acc1 = 0;
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint len = (nuint)data.Length;
        nuint i = 0;

        if (Vector256.IsHardwareAccelerated && len >= 64)
        {
            var vacc0 = Vector256<ulong>.Zero;
            var vacc1 = Vector256<ulong>.Zero;
            for (; i + 32 <= len; i += 32)
            {
                var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref p, i)).AsUInt32();
                var (lo, hi) = Vector256.Widen(v);
                vacc0 += lo;
                vacc1 += hi;
            }
            acc0 += Vector256.Sum(vacc0);
            acc1 += Vector256.Sum(vacc1);
        }
        else if (Vector128.IsHardwareAccelerated && len >= 32)
        {
            var vacc0 = Vector128<ulong>.Zero;
            var vacc1 = Vector128<ulong>.Zero;
            for (; i + 16 <= len; i += 16)
            {
                var v = Vector128.LoadUnsafe(ref Unsafe.Add(ref p, i)).AsUInt32();
                var (lo, hi) = Vector128.Widen(v);
                vacc0 += lo;
                vacc1 += hi;
            }
            acc0 += Vector128.Sum(vacc0);
            acc1 += Vector128.Sum(vacc1);
        }

        // Scalar tail (and small inputs such as a 20-byte IPv4 header): 8 bytes per step, two 32-bit adds.
        for (; i + 8 <= len; i += 8)
        {
            ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            acc0 += (uint)v;
            acc1 += v >> 32;
        }
        if (i + 4 <= len)
        {
            acc0 += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i));
            i += 4;
        }
        if (i + 2 <= len)
        {
            acc1 += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, i));
            i += 2;
        }
        if (i < len)
        {
            // A trailing odd byte is the high-order byte of a zero-padded 16-bit word in network order.
            byte last = Unsafe.Add(ref p, i);
            acc1 += BitConverter.IsLittleEndian ? last : (ulong)last << 8;
        }

        // Each accumulator gains < 2^32 per 4 bytes, so even a 64 KiB packet chained onto a previous partial
        // sum stays far below 2^63: the 64-bit addition cannot carry out.
        return acc0 + acc1;
    }

    /// <summary>Folds a partial sum to 16 bits and returns it in network-order numeric form (not complemented).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        ushort folded = (ushort)sum;
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    /// <summary>The checksum of a finished partial sum: the complement of the fold, ready to write big-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Finish(ulong sum) => (ushort)~Fold(sum);

    /// <summary>The Internet checksum of <paramref name="data"/> (RFC 1071), ready to write big-endian.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Sum(data));

    /// <summary>
    /// The partial sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768): source, destination, zero,
    /// protocol, and the transport length.
    /// </summary>
    public static ulong PseudoHeaderSum(Ipv4Address source, Ipv4Address destination, byte protocol, ushort length)
    {
        Span<byte> pseudo = stackalloc byte[12];
        source.Write(pseudo);
        destination.Write(pseudo[4..]);
        pseudo[8] = 0;
        pseudo[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], length);
        return Sum(pseudo);
    }

    /// <summary>
    /// The partial sum of the TCP/UDP pseudo-header for either address family, taking the source and destination
    /// addresses as they lie back to back in the IP header (IPv4: bytes 12..20, IPv6: bytes 8..40).
    /// </summary>
    /// <remarks>
    /// IPv6's pseudo-header (RFC 8200 §8.1) ends with a 32-bit length, three zero bytes and the next header; IPv4's
    /// (RFC 768, RFC 9293 §3.1) has a zero byte, the protocol and a 16-bit length. Both sum to the same words
    /// (length high, length low, protocol) whenever the length fits 16 bits, so one 8-byte tail serves both.
    /// The address block has even length, so the chain stays word-aligned.
    /// </remarks>
    public static ulong PseudoHeaderSum(ReadOnlySpan<byte> sourceAndDestination, byte protocol, uint upperLayerLength)
    {
        Span<byte> tail = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(tail, upperLayerLength);
        BinaryPrimitives.WriteUInt32BigEndian(tail[4..], protocol);
        return Sum(tail, Sum(sourceAndDestination));
    }

    /// <summary>
    /// RFC 1624 eqn. 3 incremental update: HC' = ~(~HC + ~m + m') for one 16-bit field changing from
    /// <paramref name="oldWord"/> to <paramref name="newWord"/>. All values are network-order numbers.
    /// Unlike eqn. 2 this never yields 0xFFFF/0x0000 inconsistently (RFC 1624 §3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update(ushort checksum, ushort oldWord, ushort newWord)
    {
        uint sum = (uint)(ushort)~checksum + (ushort)~oldWord + newWord;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
