using System.Buffers.Binary;
using CsCheck;
using Dataplane.Packets;

namespace Dataplane.Tests.Packets;

public class ChecksumTests
{
    // Straightforward RFC 1071 reference: 16-bit big-endian words, end-around carry.
    private static ushort Reference(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            sum += (uint)data[i] << 8;
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Test]
    public void Rfc1071_Section3_Example()
    {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.That(Checksum.Fold(Checksum.Sum(data)), Is.EqualTo(0xddf2));
        Assert.That(Checksum.Compute(data), Is.EqualTo(0x220d));
    }

    [Test]
    public void Ipv4Header_KnownAnswer()
    {
        // A commonly quoted header: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
        byte[] h = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.That(Checksum.Compute(h), Is.EqualTo(0xb861));
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(10), 0xb861);
        Assert.That(new Ipv4Header(h).IsChecksumValid, Is.True);
    }

    [Test]
    public void Rfc1624_Section4_Example()
    {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000 with eqn. 3.
        Assert.That(Checksum.Update(0xdd2f, 0x5555, 0x3285), Is.EqualTo(0x0000));
    }

    [Test]
    public void Compute_MatchesReference_AnyLengthAndAlignment()
    {
        Gen.Byte.Array[0, 3000].Select(Gen.Int[0, 7]).Sample((bytes, skew) =>
        {
            var span = bytes.AsSpan(Math.Min(skew, bytes.Length));
            return Checksum.Compute(span) == Reference(span);
        }, iter: 3000);
    }

    [Test]
    public void PartialSums_Chain_AtEvenOffsets()
    {
        Gen.Byte.Array[2, 2000].Select(Gen.Int[0, 1000]).Sample((bytes, cut) =>
        {
            int split = Math.Min(cut * 2, bytes.Length);
            ulong partial = Checksum.Sum(bytes.AsSpan(0, split));
            return Checksum.Finish(Checksum.Sum(bytes.AsSpan(split), partial)) == Reference(bytes);
        }, iter: 2000);
    }

    [Test]
    public void IncrementalUpdate_EqualsRecompute()
    {
        // Any 16-bit word of a header changes: eqn. 3 gives what a full recomputation gives
        // (modulo the 0x0000/0xFFFF equivalence, which RFC 1624 eqn. 3 avoids for non-zero data).
        Gen.Byte.Array[20].Select(Gen.Int[0, 9], Gen.UShort).Sample((header, word, value) =>
        {
            header[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), 0);
            ushort hc = Checksum.Compute(header);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), hc);
            int offset = word == 5 ? 0 : word * 2; // never the checksum field itself
            ushort old = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(offset));
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(offset), value);
            ushort updated = Checksum.Update(hc, old, value);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), updated);
            return Checksum.Fold(Checksum.Sum(header)) == 0xFFFF; // all 20 bytes, whatever the IHL now says
        }, iter: 5000);
    }
    [Test]
    public void PseudoHeaderSum_AddressBlock_EqualsIpv4Form()
    {
        Gen.UInt.Select(Gen.UInt, Gen.Byte, Gen.UShort).Sample((src, dst, proto, length) =>
        {
            var s = new Ipv4Address(src);
            var d = new Ipv4Address(dst);
            var block = new byte[8];
            s.Write(block);
            d.Write(block.AsSpan(4));
            return Checksum.Fold(Checksum.PseudoHeaderSum(block, proto, length)) ==
                   Checksum.Fold(Checksum.PseudoHeaderSum(s, d, proto, length));
        }, iter: 2000);
    }

    [Test]
    public void PseudoHeaderSum_Ipv6_MatchesRfc8200Layout()
    {
        // RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, next header.
        Gen.Byte.Array[32].Select(Gen.Byte, Gen.UInt[0, 200_000]).Sample((addresses, next, length) =>
        {
            var pseudo = new byte[40];
            addresses.CopyTo(pseudo, 0);
            BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), length);
            pseudo[39] = next;
            return Checksum.Fold(Checksum.PseudoHeaderSum(addresses, next, length)) == (ushort)~Reference(pseudo);
        }, iter: 2000);
    }
}
