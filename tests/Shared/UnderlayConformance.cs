using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Testing;

/// <summary>
/// What every <see cref="IUnderlay"/> must do, asserted the same way against the in-memory fake (Dataplane.Tests) and
/// the Linux socket between two network namespaces (Dataplane.Tun.Tests): the fake is only worth its tests if it
/// behaves like the real thing.
/// </summary>
public abstract class UnderlayConformance
{

    /// <summary>Two connected underlays: <c>A</c> sends to <c>BEndpoint</c>, where <c>B</c> receives; disposing tears them down.</summary>
    protected sealed record Pair(IUnderlay A, UnderlayEndpoint AEndpoint, IUnderlay B, UnderlayEndpoint BEndpoint, IDisposable Scope);

    /// <summary>Builds a pair with the given receive batch size, GSO (sender) and GRO (receiver) settings.</summary>
    protected abstract Pair Create(int batchSize, bool gso, bool gro = false);

    private static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < b.Length; i++)
            b[i] = (byte)(seed + i * 7);
        return b;
    }

    private static PacketBuffer Buffer(byte[] content, UnderlayEndpoint peer)
    {
        var p = new PacketBuffer(4096) { Peer = peer };
        p.Load(content);
        return p;
    }

    /// <summary>GRO trains seen by the last <see cref="ReceiveAll"/>.</summary>
    private int _trains;

    /// <summary>
    /// Receives until <paramref name="want"/> datagrams arrived or 5 s passed (polling, never blocking forever); a GRO
    /// train counts as its datagrams, cut at its segment size.
    /// </summary>
    private List<(byte[] Data, UnderlayEndpoint From, DropReason Verdict)> ReceiveAll(IUnderlay b, int want, int batch)
    {
        _trains = 0;
        var got = new List<(byte[], UnderlayEndpoint, DropReason)>();
        var buffers = Enumerable.Range(0, batch).Select(_ => new PacketBuffer(PacketBuffer.DefaultHeadroom + 2000)).ToArray();
        var large = Enumerable.Range(0, batch).Select(_ => new PacketBuffer(PacketBufferPool.LargeBufferSize)).ToArray();
        bool gro = b.ReceiveOffload;
        if (gro)
            buffers = large;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (got.Count < want && DateTime.UtcNow < deadline)
        {
            foreach (var p in buffers)
                p.Reset();
            var r = b.Receive(buffers, wait: false, out int n);
            Assert.That(r.Status, Is.AnyOf(IoStatus.Ok, IoStatus.WouldBlock), r.ToString());
            Assert.That(n, Is.LessThanOrEqualTo(b.BatchSize), "never more than the batch size");
            if (n == 0)
            {
                Thread.Sleep(2);
                continue;
            }
            for (int i = 0; i < n; i++)
            {
                var p = buffers[i];
                int size = p.Offload.GsoSize;
                if (size > 0 && p.Length > size)
                {
                    _trains++;
                    for (int at = 0; at < p.Length; at += size)
                        got.Add((p.Data.Slice(at, Math.Min(size, p.Length - at)).ToArray(), p.Peer, p.Verdict));
                    continue;
                }
                got.Add((p.Data.ToArray(), p.Peer, p.Verdict));
            }
        }
        return got;
    }

    [Test]
    public void A_single_datagram_arrives_whole_with_its_sender()
    {
        var pair = Create(batchSize: 1, gso: false);
        using var scope = pair.Scope;
        var payload = Bytes(300, 1);
        Assert.That(pair.A.Send(Buffer(payload, pair.BEndpoint)).IsOk);
        var got = ReceiveAll(pair.B, 1, 1);
        Assert.That(got, Has.Count.EqualTo(1));
        Assert.That(got[0].Data, Is.EqualTo(payload));
        Assert.That(got[0].From, Is.EqualTo(pair.AEndpoint));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void A_batch_of_datagrams_and_gso_trains_arrives_as_separate_datagrams_in_order(bool gso)
    {
        var pair = Create(batchSize: 8, gso);
        using var scope = pair.Scope;
        var batch = new DatagramBatch();
        var expected = new List<byte[]>();
        var arena = GC.AllocateArray<byte>(64 * 1024, pinned: true);
        int used = 0;
        DatagramBatch.Fragment Put(byte[] content)
        {
            content.CopyTo(arena, used);
            var f = new DatagramBatch.Fragment(arena, used, content.Length);
            used += content.Length;
            return f;
        }

        // A single datagram, then a train of 5 datagrams of 2 fragments each (header + payload, the TSO split's
        // shape; the last shorter), then another single datagram.
        var first = Bytes(100, 1);
        Assert.That(batch.TryAddSegment(pair.BEndpoint, 0, allowGso: false, Put(first), default), Is.True);
        expected.Add(first);
        for (int i = 0; i < 5; i++)
        {
            var head = Bytes(30, 10 + i);
            var body = Bytes(i == 4 ? 200 : 500, 20 + i);
            Assert.That(batch.TryAddSegment(pair.BEndpoint, 0, pair.A.SegmentationOffload, Put(head), Put(body)), Is.True);
            expected.Add([.. head, .. body]);
        }
        var last = Bytes(60, 3);
        Assert.That(batch.TryAddSegment(pair.BEndpoint, 0, allowGso: false, Put(last), default), Is.True);
        expected.Add(last);
        Assert.That(batch.Count, Is.EqualTo(gso ? 3 : 7), "a GSO socket sends the train as one message");

        Assert.That(pair.A.Send(batch).IsOk);
        Assert.That(batch.Messages.ToArray().Select(m => m.Verdict), Is.All.EqualTo(DropReason.None));
        var got = ReceiveAll(pair.B, expected.Count, 8);
        Assert.That(got.Select(g => g.Data), Is.EqualTo(expected), "every datagram, whole and in order");
        Assert.That(got.Select(g => g.From), Is.All.EqualTo(pair.AEndpoint));
    }

    [Test]
    public void With_gro_a_gso_train_arrives_as_one_train_of_the_same_datagrams()
    {
        var pair = Create(batchSize: 8, gso: true, gro: true);
        using var scope = pair.Scope;
        Assert.That(pair.B.ReceiveOffload, Is.True);
        var batch = new DatagramBatch();
        var arena = GC.AllocateArray<byte>(64 * 1024, pinned: true);
        for (int i = 0; i < arena.Length; i++)
            arena[i] = (byte)(i * 13);
        var expected = new List<byte[]>();
        for (int i = 0; i < 20; i++)
        {
            int length = i == 19 ? 700 : 1400;
            Assert.That(batch.TryAddSegment(pair.BEndpoint, 0, allowGso: true, new DatagramBatch.Fragment(arena, i * 1400, length), default), Is.True);
            expected.Add(arena.AsSpan(i * 1400, length).ToArray());
        }
        Assert.That(batch.Count, Is.EqualTo(1));
        Assert.That(pair.A.Send(batch).IsOk);
        var got = ReceiveAll(pair.B, expected.Count, 8);
        Assert.That(got.Select(g => g.Data), Is.EqualTo(expected));
        Assert.That(_trains, Is.GreaterThanOrEqualTo(1), "coalesced into a train, segment size in the control message");
    }

    [Test]
    public void An_oversized_datagram_gets_too_big_and_the_rest_of_the_batch_still_arrives()
    {
        var pair = Create(batchSize: 8, gso: false);
        using var scope = pair.Scope;
        Assert.That(pair.A.Send(Buffer(Bytes(3000, 1), pair.BEndpoint)).IsOk);
        Assert.That(pair.A.Send(Buffer(Bytes(50, 2), pair.BEndpoint)).IsOk);
        var got = ReceiveAll(pair.B, 2, 8);
        Assert.That(got.Select(g => g.Verdict), Is.EqualTo(new[] { DropReason.TooBig, DropReason.None }));
        Assert.That(got[0].Data, Is.Empty, "never passed on cut short");
        Assert.That(got[1].Data, Has.Length.EqualTo(50));
    }

    [Test]
    public void Nothing_queued_is_would_block_and_cancel_wakes_a_waiting_receive()
    {
        var pair = Create(batchSize: 4, gso: false);
        using var scope = pair.Scope;
        var buffers = new[] { new PacketBuffer(2048), new PacketBuffer(2048) };
        Assert.That(pair.B.Receive(buffers, wait: false, out int n).Status, Is.EqualTo(IoStatus.WouldBlock));
        Assert.That(n, Is.Zero);
        IoResult result = default;
        var waiter = new Thread(() => result = pair.B.Receive(buffers, wait: true, out _));
        waiter.Start();
        Thread.Sleep(50);
        pair.B.Cancel();
        Assert.That(waiter.Join(TimeSpan.FromSeconds(5)), Is.True, "cancel wakes the receive");
        Assert.That(result.Status, Is.EqualTo(IoStatus.Closed));
    }
}
