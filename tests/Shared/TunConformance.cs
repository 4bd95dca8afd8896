using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Testing;

/// <summary>
/// What every <see cref="ITunDevice"/> must do, asserted the same way against the in-memory fake (Dataplane.Tests,
/// FakeTunConformanceTests) and a Linux TUN in a network namespace (Dataplane.Tun.Tests, LinuxTunConformanceTests):
/// the pump tests over the fake are only worth something if the fake behaves like the kernel's TUN.
/// </summary>
/// <remarks>
/// The other side of the device is "the node's stack": it sends UDP datagrams from <see cref="Local"/> to
/// <see cref="Remote"/> that are routed into the TUN (the device reads them), and it receives on
/// <see cref="Local"/>:<see cref="LocalPort"/> what the device writes. For the fake that is the test injecting and
/// collecting packets; for Linux it is a UDP socket in the TUN's namespace.
/// </remarks>
public abstract class TunConformance
{
    /// <summary>The TUN's own address (flannel's <c>&lt;subnet&gt;.0/32</c>): where written packets are delivered.</summary>
    protected static readonly Ipv4Address Local = Ipv4Address.Parse("10.244.1.0");

    /// <summary>A pod behind the TUN: datagrams to it are routed into the device.</summary>
    protected static readonly Ipv4Address Remote = Ipv4Address.Parse("10.244.5.7");

    /// <summary>Port the stack receives written packets on.</summary>
    protected const ushort LocalPort = 7000;

    /// <summary>Port the stack sends to (behind the TUN).</summary>
    protected const ushort RemotePort = 9;

    /// <summary>A device and the node's stack around it; disposing tears both down.</summary>
    protected abstract class Rig : IDisposable
    {
        /// <summary>The device under test.</summary>
        public abstract ITunDevice Tun { get; }

        /// <summary>
        /// The stack sends one UDP datagram (<see cref="Local"/> → <see cref="Remote"/>:<see cref="RemotePort"/>) with
        /// <paramref name="payload"/>; with <paramref name="segmentSize"/> &gt; 0 as one UDP_SEGMENT (GSO) send.
        /// </summary>
        public abstract void StackSends(byte[] payload, int segmentSize = 0);

        /// <summary>
        /// The stack opens a TCP connection to <see cref="Remote"/>:<paramref name="port"/> (the test answers its SYN
        /// through the device) and sends <paramref name="data"/>; the task ends when the data is buffered.
        /// </summary>
        public virtual Task StackSendsTcp(ushort port, byte[] data) => throw new NotSupportedException("no TCP stack behind this device");

        /// <summary>The next UDP payload the stack received on <see cref="LocalPort"/>, or null after <paramref name="within"/>.</summary>
        public abstract byte[]? StackReceives(TimeSpan within);

        /// <inheritdoc/>
        public abstract void Dispose();
    }

    /// <summary>Builds a device with the given batch size, with the kernel's offloads (IFF_VNET_HDR + TSO/USO) or plain.</summary>
    protected abstract Rig Create(int batchSize, bool offloads);

    private protected static byte[] Payload(int length, int marker)
    {
        var b = new byte[length];
        for (int i = 0; i < b.Length; i++)
            b[i] = (byte)(marker * 31 + i * 7);
        if (length >= 4)
            BinaryPrimitives.WriteInt32BigEndian(b, marker);
        return b;
    }

    /// <summary>An IPv4/UDP packet with both checksums complete (UDP <paramref name="udpChecksum"/>: false leaves 0).</summary>
    protected static byte[] UdpPacket(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort,
        ReadOnlySpan<byte> payload, bool udpChecksum = true)
    {
        var p = new byte[Ipv4Header.MinimumLength + UdpHeader.Length + payload.Length];
        Ipv4Header.Write(p, new Ipv4HeaderFields(0, (ushort)p.Length, 1, true, 64, IpProtocol.Udp, source, destination));
        var udp = p.AsSpan(Ipv4Header.MinimumLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udp.Length);
        payload.CopyTo(udp[UdpHeader.Length..]);
        if (udpChecksum)
        {
            ushort sum = Checksum.Finish(Checksum.Sum(udp, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, (ushort)udp.Length)));
            BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xFFFF : sum);
        }
        return p;
    }

    /// <summary>The UDP payload of an IPv4 packet from <paramref name="source"/> to <paramref name="destination"/>:<paramref name="port"/>, else null.</summary>
    protected static byte[]? UdpPayload(ReadOnlySpan<byte> ip, Ipv4Address source, Ipv4Address destination, ushort port)
    {
        if (ip.Length < 28 || ip[0] != 0x45 || ip[9] != IpProtocol.Udp)
            return null;
        if (Ipv4Address.Read(ip[12..]) != source || Ipv4Address.Read(ip[16..]) != destination)
            return null;
        if (BinaryPrimitives.ReadUInt16BigEndian(ip[22..]) != port)
            return null;
        return ip[28..].ToArray();
    }

    /// <summary>A packet the stack sent towards <see cref="Remote"/> as read from the device.</summary>
    private protected sealed record Read(byte[] Payload, VirtioNetHeader Header, byte[] Packet);

    private protected static PacketBuffer[] ReadBuffers(ITunDevice tun, int count) =>
        Enumerable.Range(0, count).Select(_ => new PacketBuffer(tun.MaxPacketSize + PacketBuffer.DefaultHeadroom)).ToArray();

    /// <summary>
    /// Reads (not waiting, polling) until <paramref name="want"/> of the stack's datagrams arrived or 5 s passed;
    /// <paramref name="counts"/> gets each non-empty read's count. Anything else the device hands over is logged and
    /// left out.
    /// </summary>
    private protected static List<Read> ReadAll(ITunDevice tun, PacketBuffer[] buffers, int want, List<int>? counts = null)
    {
        var got = new List<Read>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (got.Count < want && DateTime.UtcNow < deadline)
        {
            foreach (var b in buffers)
                b.Reset();
            var r = tun.Read(buffers, wait: false, out int n);
            Assert.That(r.Status, Is.AnyOf(IoStatus.Ok, IoStatus.WouldBlock), r.ToString());
            Assert.That(n, Is.LessThanOrEqualTo(tun.BatchSize), "never more than the batch size");
            if (r.IsOk)
                Assert.That(n, Is.GreaterThanOrEqualTo(1), "Ok means at least one packet");
            else
                Assert.That(n, Is.Zero, "WouldBlock means none");
            if (n == 0)
            {
                Thread.Sleep(2);
                continue;
            }
            counts?.Add(n);
            for (int i = 0; i < n; i++)
            {
                var p = buffers[i];
                // At least the headroom the buffer had (an offload TUN's packet starts after its 10-byte virtio_net_hdr).
                Assert.That(p.Offset, Is.InRange(PacketBuffer.DefaultHeadroom, PacketBuffer.DefaultHeadroom + VirtioNetHeader.Length),
                    "the read keeps the buffer's headroom");
                var payload = UdpPayload(p.Data, Local, Remote, RemotePort);
                if (payload is null)
                    TestContext.Out.WriteLine($"not ours, left out: {Convert.ToHexString(p.Data[..Math.Min(p.Length, 40)])}");
                else
                    got.Add(new Read(payload, p.Offload, p.Data.ToArray()));
            }
        }
        return got;
    }

    /// <summary>
    /// Starts a waiting read on its own thread and checks that it still waits 100 ms later (nothing is queued); the
    /// returned function joins it within a time and tells whether it returned, with what and how many packets.
    /// </summary>
    private static Func<TimeSpan, (bool Returned, IoResult Result, int Count)> WaitingRead(ITunDevice tun, PacketBuffer[] buffers)
    {
        IoResult result = default;
        int count = -1;
        var waiter = new Thread(() => result = tun.Read(buffers, wait: true, out count)) { IsBackground = true };
        waiter.Start();
        Thread.Sleep(100);
        Assert.That(waiter.IsAlive, Is.True, "nothing queued: a waiting read waits");
        return within => (waiter.Join(within), result, count);
    }

    private protected static PacketBuffer ToWrite(ITunDevice tun, byte[] packet, VirtioNetHeader header = default)
    {
        var p = new PacketBuffer(packet.Length + PacketBuffer.DefaultHeadroom);
        Assert.That(p.Headroom, Is.GreaterThanOrEqualTo(tun.WriteHeadroom));
        p.Load(packet);
        p.Offload = header;
        return p;
    }

    private protected static byte[] ToLocal(byte[] payload) => UdpPacket(Remote, Local, RemotePort, LocalPort, payload);

    [TestCase(false)]
    [TestCase(true)]
    public void Queued_packets_come_in_batches_of_at_most_the_batch_size_whole_and_in_order(bool offloads)
    {
        using var rig = Create(batchSize: 4, offloads);
        Assert.That(rig.Tun.BatchSize, Is.EqualTo(4));
        var buffers = ReadBuffers(rig.Tun, 8);
        var sent = Enumerable.Range(0, 9).Select(i => Payload(50 + i * 10, i)).ToList();
        foreach (var s in sent)
            rig.StackSends(s);
        var counts = new List<int>();
        var got = ReadAll(rig.Tun, buffers, sent.Count, counts);
        TestContext.Out.WriteLine($"read counts: {string.Join(", ", counts)}");
        Assert.That(got.Select(g => g.Payload), Is.EqualTo(sent), "every packet, whole and in order");
        Assert.That(counts, Has.Some.GreaterThan(1), "what is queued comes more than one packet per read");
        Assert.That(counts, Has.All.LessThanOrEqualTo(4), "a span of 8 buffers still gets at most the batch size");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void A_batch_of_one_reads_and_writes_one_packet_per_call_in_order(bool offloads)
    {
        using var rig = Create(batchSize: 1, offloads);
        var buffers = ReadBuffers(rig.Tun, 4);
        var sent = Enumerable.Range(0, 3).Select(i => Payload(40, i)).ToList();
        foreach (var s in sent)
            rig.StackSends(s);
        var counts = new List<int>();
        var got = ReadAll(rig.Tun, buffers, sent.Count, counts);
        Assert.That(got.Select(g => g.Payload), Is.EqualTo(sent));
        Assert.That(counts, Has.All.EqualTo(1), "batch size 1: one packet per read whatever the span");

        var one = Payload(70, 100);
        var packet = ToWrite(rig.Tun, ToLocal(one));
        Assert.That(rig.Tun.Write(new[] { packet }), Is.EqualTo(IoResult.Ok));
        Assert.That(packet.Verdict, Is.EqualTo(DropReason.None));
        Assert.That(packet.Data.ToArray(), Is.EqualTo(ToLocal(one)), "the caller's packet is left as it was (headroom used for the header is given back)");
        Assert.That(rig.StackReceives(TimeSpan.FromSeconds(5)), Is.EqualTo(one));
    }

    [Test]
    public void Nothing_queued_is_would_block_and_a_waiting_read_returns_when_a_packet_comes()
    {
        using var rig = Create(batchSize: 4, offloads: false);
        var buffers = ReadBuffers(rig.Tun, 4);
        var r = rig.Tun.Read(buffers, wait: false, out int n);
        Assert.That(r.Status, Is.EqualTo(IoStatus.WouldBlock));
        Assert.That(n, Is.Zero);

        var join = WaitingRead(rig.Tun, buffers);
        var payload = Payload(60, 7);
        rig.StackSends(payload);
        var (returned, result, count) = join(TimeSpan.FromSeconds(5));
        Assert.That(returned, Is.True, "the packet wakes the read");
        Assert.That(result, Is.EqualTo(IoResult.Ok));
        Assert.That(count, Is.EqualTo(1));
        Assert.That(UdpPayload(buffers[0].Data, Local, Remote, RemotePort), Is.EqualTo(payload));
    }

    [Test]
    public void Cancel_wakes_a_waiting_read_and_every_later_read_and_write_is_closed()
    {
        using var rig = Create(batchSize: 4, offloads: false);
        var buffers = ReadBuffers(rig.Tun, 4);
        var join = WaitingRead(rig.Tun, buffers);
        rig.Tun.Cancel();
        var (returned, result, count) = join(TimeSpan.FromSeconds(5));
        Assert.That(returned, Is.True, "cancel wakes the read");
        Assert.That(result.Status, Is.EqualTo(IoStatus.Closed));
        Assert.That(count, Is.Zero);

        rig.StackSends(Payload(40, 1));
        Assert.That(rig.Tun.Read(buffers, wait: false, out int n1).Status, Is.EqualTo(IoStatus.Closed), "even with a packet queued");
        Assert.That(n1, Is.Zero);
        Assert.That(rig.Tun.Read(buffers, wait: true, out _).Status, Is.EqualTo(IoStatus.Closed), "a waiting read returns at once");
        var packet = ToWrite(rig.Tun, ToLocal(Payload(40, 2)));
        Assert.That(rig.Tun.Write(new[] { packet }).Status, Is.EqualTo(IoStatus.Closed));
        Assert.That(rig.StackReceives(TimeSpan.FromMilliseconds(300)), Is.Null, "nothing is written once cancelled");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void A_write_gives_each_packet_its_verdict_and_skips_packets_already_dropped(bool offloads)
    {
        using var rig = Create(batchSize: 8, offloads);
        var first = Payload(100, 1);
        var dropped = Payload(100, 2);
        var last = Payload(300, 4);
        var notIp = new byte[40];
        notIp[0] = 0x15; // version 1: the kernel takes the protocol from this nibble and refuses it
        var batch = new[]
        {
            ToWrite(rig.Tun, ToLocal(first)),
            ToWrite(rig.Tun, ToLocal(dropped)),
            ToWrite(rig.Tun, notIp),
            ToWrite(rig.Tun, ToLocal(last)),
        };
        batch[1].Verdict = DropReason.NoRoute;

        Assert.That(rig.Tun.Write(batch), Is.EqualTo(IoResult.Ok), "per-packet refusals are verdicts, not the call's result");
        Assert.That(batch.Select(p => p.Verdict), Is.EqualTo(new[] { DropReason.None, DropReason.NoRoute, DropReason.IoError, DropReason.None }));
        Assert.That(rig.StackReceives(TimeSpan.FromSeconds(5)), Is.EqualTo(first));
        Assert.That(rig.StackReceives(TimeSpan.FromSeconds(5)), Is.EqualTo(last), "the packets after a refused one are still written, in order");
        Assert.That(rig.StackReceives(TimeSpan.FromMilliseconds(300)), Is.Null, "the packet with a verdict was not written");
    }
}

/// <summary>
/// The kernel's side of the offload header, for a device that has one (Linux): what the kernel puts in the
/// virtio_net_hdr of a read, and what it does with the header of a write. A fake only hands back what a test injected,
/// so it runs <see cref="TunConformance"/> alone.
/// </summary>
public abstract class TunConformanceWithKernelOffloads : TunConformance
{
    private Rig CreateWithKernelOffloads()
    {
        var rig = Create(batchSize: 4, offloads: true);
        Assert.That(rig.Tun.Offloads & (TunOffloads.Checksum | TunOffloads.Tso4), Is.EqualTo(TunOffloads.Checksum | TunOffloads.Tso4),
            "checksum and TSO4 offload enabled");
        Assert.That(rig.Tun.WriteHeadroom, Is.EqualTo(VirtioNetHeader.Length));
        Assert.That(rig.Tun.MaxPacketSize, Is.GreaterThanOrEqualTo(65535), "a read may be a 64 KiB super-packet");
        return rig;
    }

    [Test]
    public void With_offloads_a_datagram_of_the_stack_is_read_with_a_partial_checksum_and_its_header()
    {
        using var rig = CreateWithKernelOffloads();
        var payload = Payload(333, 5);
        rig.StackSends(payload);
        var got = ReadAll(rig.Tun, ReadBuffers(rig.Tun, 4), 1);
        Assert.That(got, Has.Count.EqualTo(1));
        var (read, header) = (got[0].Packet, got[0].Header);
        Assert.That(got[0].Payload, Is.EqualTo(payload));
        Assert.That(header.NeedsChecksum, Is.True, $"NEEDS_CSUM: the checksum is left to the device ({header.Flags})");
        Assert.That(header.GsoType, Is.EqualTo(GsoType.None));
        Assert.That((header.CsumStart, header.CsumOffset), Is.EqualTo(((ushort)20, (ushort)6)), "csum_start at the UDP header, offset of its checksum field");
        ushort field = BinaryPrimitives.ReadUInt16BigEndian(read.AsSpan(26));
        ushort pseudo = Checksum.Fold(Checksum.PseudoHeaderSum(Local, Remote, IpProtocol.Udp, (ushort)(read.Length - 20)));
        Assert.That(field, Is.EqualTo(pseudo), "the field holds the folded pseudo-header sum (CHECKSUM_PARTIAL)");
    }

    [Test]
    public void With_offloads_a_udp_gso_send_of_the_stack_is_read_as_one_super_packet_with_its_header()
    {
        using var rig = CreateWithKernelOffloads();
        if ((rig.Tun.Offloads & TunOffloads.Uso4) == 0)
            Prerequisites.Missing($"the kernel took no USO on a TUN (Linux 6.2+): {rig.Tun.Offloads}");
        var payload = Payload(3 * 1000 + 400, 6);
        rig.StackSends(payload, segmentSize: 1000);
        var counts = new List<int>();
        var got = ReadAll(rig.Tun, ReadBuffers(rig.Tun, 4), 1, counts);
        Assert.That(got, Has.Count.EqualTo(1), "one read, not four datagrams");
        var header = got[0].Header;
        Assert.That(got[0].Payload, Is.EqualTo(payload), "the whole payload in one packet");
        Assert.That(header.GsoType, Is.EqualTo(GsoType.UdpL4));
        Assert.That(header.GsoSize, Is.EqualTo(1000));
        Assert.That(header.NeedsChecksum, Is.True);
        Assert.That((header.CsumStart, header.CsumOffset), Is.EqualTo(((ushort)20, (ushort)6)));
    }

    /// <summary>Polls reads for 5 s until a TCP packet from the stack to <paramref name="port"/> that <paramref name="match"/> accepts.</summary>
    private static (byte[] Packet, VirtioNetHeader Header)? ReadTcp(ITunDevice tun, PacketBuffer[] buffers, ushort port, Func<byte[], bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var b in buffers)
                b.Reset();
            var r = tun.Read(buffers, wait: false, out int n);
            Assert.That(r.Status, Is.AnyOf(IoStatus.Ok, IoStatus.WouldBlock), r.ToString());
            if (n == 0)
                Thread.Sleep(2);
            for (int i = 0; i < n; i++)
            {
                var p = buffers[i].Data;
                if (p.Length >= 40 && p[0] == 0x45 && p[9] == IpProtocol.Tcp && BinaryPrimitives.ReadUInt16BigEndian(p[22..]) == port && match(p.ToArray()))
                    return (p.ToArray(), buffers[i].Offload);
            }
        }
        return null;
    }

    [Test]
    public void With_offloads_a_tcp_flow_of_the_stack_is_read_as_tso_super_packets_with_their_header()
    {
        using var rig = CreateWithKernelOffloads();
        const ushort port = 5201, mss = 1400;
        var buffers = ReadBuffers(rig.Tun, 4);
        var sending = rig.StackSendsTcp(port, Payload(256 * 1024, 9));
        var syn = ReadTcp(rig.Tun, buffers, port, p => (p[33] & 0x12) == 0x02);
        Assert.That(syn, Is.Not.Null, "the stack's SYN was never read");

        // The far end's SYN-ACK, written as a plain packet: MSS option 1400, window 65535, no other options.
        var s = syn!.Value.Packet;
        var synAck = new byte[20 + 24];
        Ipv4Header.Write(synAck, new Ipv4HeaderFields(0, (ushort)synAck.Length, 1, true, 64, IpProtocol.Tcp, Remote, Local));
        var tcp = synAck.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, port);
        s.AsSpan(20, 2).CopyTo(tcp[2..]);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], 1_000_000);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(24)) + 1);
        tcp[12] = 6 << 4;
        tcp[13] = 0x12;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 65535);
        tcp[20] = 2;
        tcp[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], mss);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Finish(Checksum.Sum(tcp, Checksum.PseudoHeaderSum(Remote, Local, IpProtocol.Tcp, (ushort)tcp.Length))));
        var answer = ToWrite(rig.Tun, synAck);
        Assert.That(rig.Tun.Write(new[] { answer }), Is.EqualTo(IoResult.Ok));
        Assert.That(answer.Verdict, Is.EqualTo(DropReason.None));

        // The initial window (10 segments) leaves as one or a few TSO super-packets of MSS-sized segments.
        var super = ReadTcp(rig.Tun, buffers, port, p => p.Length > 20 + 20 + mss);
        Assert.That(super, Is.Not.Null, "no TCP packet longer than one segment was read: the stack segmented in software (no TSO)");
        var (packet, header) = super!.Value;
        TestContext.Out.WriteLine($"read a {packet.Length}-byte TCP packet: gso {header.GsoType} size {header.GsoSize}, csum {header.CsumStart}+{header.CsumOffset}");
        Assert.That(header.GsoType, Is.EqualTo(GsoType.TcpV4));
        Assert.That(header.GsoSize, Is.InRange(1, (int)mss), "gso_size is the MSS (less options)");
        Assert.That(header.NeedsChecksum, Is.True);
        Assert.That((header.CsumStart, header.CsumOffset), Is.EqualTo(((ushort)20, (ushort)16)));
        Assert.That(sending.IsFaulted, Is.False, sending.Exception?.ToString());
    }

    [Test]
    public void With_offloads_a_super_packet_written_with_its_header_reaches_the_stack_as_its_datagrams()
    {
        using var rig = CreateWithKernelOffloads();
        var payload = Payload(3 * 1000 + 500, 8);
        var packet = ToLocal(payload);
        // As a GSO sender leaves it: the UDP length over the whole super-packet, the checksum field the folded
        // pseudo-header sum (udp4_hwcsum), completed per segment by whoever segments it.
        ushort pseudo = Checksum.Fold(Checksum.PseudoHeaderSum(Remote, Local, IpProtocol.Udp, (ushort)(packet.Length - 20)));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(26), pseudo);
        var header = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.UdpL4, 28, 1000, 20, 6);
        var buffer = ToWrite(rig.Tun, packet, header);
        Assert.That(rig.Tun.Write(new[] { buffer }), Is.EqualTo(IoResult.Ok));
        Assert.That(buffer.Verdict, Is.EqualTo(DropReason.None));
        var got = new List<byte[]>();
        while (rig.StackReceives(TimeSpan.FromSeconds(got.Count < 4 ? 5 : 0.3)) is { } d)
            got.Add(d);
        Assert.That(got.Select(d => d.Length), Is.EqualTo(new[] { 1000, 1000, 1000, 500 }),
            "segmented by gso_size: the header went with the packet (without it: one datagram with a bad checksum, dropped)");
        Assert.That(got.SelectMany(d => d), Is.EqualTo(payload));
    }
}
