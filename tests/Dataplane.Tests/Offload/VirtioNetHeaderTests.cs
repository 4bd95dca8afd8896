using CsCheck;
using Dataplane.Offload;

namespace Dataplane.Tests.Offload;

public class VirtioNetHeaderTests
{
    [Test]
    public void Read_KnownBytes_LittleEndianFields()
    {
        // flags NEEDS_CSUM, gso TCPV4|ECN, hdr_len 66, gso_size 1448, csum_start 20, csum_offset 16.
        byte[] bytes = [0x01, 0x81, 0x42, 0x00, 0xA8, 0x05, 0x14, 0x00, 0x10, 0x00];
        Assert.That(VirtioNetHeader.TryRead(bytes, out var h), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(h.Flags, Is.EqualTo(VirtioNetHeader.NeedsCsum));
            Assert.That(h.NeedsChecksum, Is.True);
            Assert.That(h.GsoType, Is.EqualTo(GsoType.TcpV4));
            Assert.That(h.Ecn, Is.True);
            Assert.That(h.HdrLen, Is.EqualTo(66));
            Assert.That(h.GsoSize, Is.EqualTo(1448));
            Assert.That(h.CsumStart, Is.EqualTo(20));
            Assert.That(h.CsumOffset, Is.EqualTo(16));
        });
        var written = new byte[VirtioNetHeader.Length];
        h.Write(written);
        Assert.That(written, Is.EqualTo(bytes));
    }

    [Test]
    public void KernelValues()
    {
        Assert.Multiple(() =>
        {
            Assert.That((byte)GsoType.None, Is.EqualTo(0));
            Assert.That((byte)GsoType.TcpV4, Is.EqualTo(1));
            Assert.That((byte)GsoType.Udp, Is.EqualTo(3));
            Assert.That((byte)GsoType.TcpV6, Is.EqualTo(4));
            Assert.That((byte)GsoType.UdpL4, Is.EqualTo(5));
            Assert.That(VirtioNetHeader.GsoEcnBit, Is.EqualTo(0x80));
            Assert.That(VirtioNetHeader.DataValid, Is.EqualTo(2));
            Assert.That(VirtioNetHeader.Length, Is.EqualTo(10));
        });
    }

    [Test]
    public void TryRead_Short_IsFalse()
    {
        Assert.That(VirtioNetHeader.TryRead(new byte[9], out var h), Is.False);
        Assert.That(h, Is.EqualTo(default(VirtioNetHeader)));
        Assert.Throws<ArgumentException>(() => h.Write(new byte[9]));
    }

    [Test]
    public void ReadWrite_RoundTrips_AnyBytes()
    {
        Gen.Byte.Array[VirtioNetHeader.Length].Sample(bytes =>
        {
            VirtioNetHeader.TryRead(bytes, out var h);
            var back = new byte[VirtioNetHeader.Length];
            h.Write(back);
            return back.AsSpan().SequenceEqual(bytes);
        }, iter: 2000);
    }
}
