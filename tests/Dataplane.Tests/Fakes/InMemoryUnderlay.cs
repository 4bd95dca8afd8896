using System.Collections.Concurrent;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Tests.Fakes;

/// <summary>An in-memory UDP "network": sockets registered by endpoint; Send delivers to the matching socket.</summary>
internal sealed class InMemoryNetwork
{
    private readonly ConcurrentDictionary<UnderlayEndpoint, InMemoryUnderlay> _sockets = new();

    public InMemoryUnderlay Bind(string address, ushort port, int batchSize = 8, bool gso = false, bool gro = false)
    {
        var s = new InMemoryUnderlay(this, new UnderlayEndpoint(Ipv4Address.Parse(address), port), batchSize, gso, gro);
        _sockets[s.Local] = s;
        return s;
    }

    internal void Deliver(UnderlayEndpoint from, UnderlayEndpoint to, byte[] payload, byte tos)
    {
        if (_sockets.TryGetValue(to, out var target))
            target.Enqueue(from, payload, tos);
    }
}

/// <summary>
/// A fake UDP socket. Sends take a batch apart the way the wire does: every datagram of a GSO train arrives on its own
/// (the kernel segments before the wire). It records each message's shape so tests can assert how the pump batched.
/// </summary>
internal sealed class InMemoryUnderlay(InMemoryNetwork network, UnderlayEndpoint local, int batchSize, bool gso, bool gro = false) : IUnderlay
{
    private readonly BlockingCollection<(UnderlayEndpoint From, byte[] Payload, byte Tos)> _inbox = new();
    private readonly CancellationTokenSource _cancel = new();

    public UnderlayEndpoint Local { get; } = local;

    public int BatchSize => batchSize;

    public bool SegmentationOffload => gso;

    public long GsoFallbacks => 0;

    public bool ReceiveOffload => gro;

    /// <summary>TOS values of the datagrams sent, in order.</summary>
    public ConcurrentQueue<byte> SentTos { get; } = new();

    /// <summary>Per message sent: datagrams in it and its segment size.</summary>
    public ConcurrentQueue<(int Datagrams, int SegmentSize)> SentMessages { get; } = new();

    /// <summary>GRO trains handed out by Receive.</summary>
    public int Trains;

    /// <summary>Send calls (sendmmsg on Linux).</summary>
    public int SendCalls;

    internal void Enqueue(UnderlayEndpoint from, byte[] payload, byte tos) => _inbox.Add((from, payload, tos));

    /// <summary>Injects a datagram as if <paramref name="from"/> had sent it.</summary>
    public void InjectFrom(string address, ushort port, byte[] payload) =>
        Enqueue(new UnderlayEndpoint(Ipv4Address.Parse(address), port), payload, 0);

    public IoResult Send(DatagramBatch batch)
    {
        if (_cancel.IsCancellationRequested)
            return new IoResult(IoStatus.Closed);
        Interlocked.Increment(ref SendCalls);
        var fragments = batch.Fragments;
        foreach (ref var m in batch.Messages)
        {
            SentMessages.Enqueue((m.Datagrams, m.SegmentSize));
            for (int d = 0; d < m.Datagrams; d++)
            {
                var datagram = new List<byte>();
                for (int f = 0; f < m.FragmentsPerDatagram; f++)
                {
                    var fragment = fragments[m.FirstFragment + d * m.FragmentsPerDatagram + f];
                    datagram.AddRange(fragment.Array.AsSpan(fragment.Offset, fragment.Length).ToArray());
                }
                SentTos.Enqueue(m.Tos);
                network.Deliver(Local, m.Peer, datagram.ToArray(), m.Tos);
            }
            m.Verdict = DropReason.None;
        }
        return IoResult.Ok;
    }

    // A datagram taken from the inbox but not yet handed out (GRO looked at it and it did not fit the train).
    private (UnderlayEndpoint From, byte[] Payload, byte Tos)? _peeked;

    private bool TryNext(out (UnderlayEndpoint From, byte[] Payload, byte Tos) item)
    {
        if (_peeked is { } p)
        {
            item = p;
            _peeked = null;
            return true;
        }
        return _inbox.TryTake(out item);
    }

    public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
    {
        count = 0;
        (UnderlayEndpoint From, byte[] Payload, byte Tos) item;
        try
        {
            if (_cancel.IsCancellationRequested)
                return new IoResult(IoStatus.Closed);
            if (!TryNext(out item))
            {
                if (!wait)
                    return new IoResult(IoStatus.WouldBlock);
                item = _inbox.Take(_cancel.Token);
            }
        }
        catch (OperationCanceledException)
        {
            return new IoResult(IoStatus.Closed);
        }
        int limit = Math.Min(packets.Length, batchSize);
        bool have = true;
        while (have && count < limit)
        {
            var packet = packets[count++];
            if (item.Payload.Length > packet.Writable.Length)
            {
                packet.Verdict = DropReason.TooBig;
                have = TryNext(out item);
                continue;
            }
            packet.Load(item.Payload);
            packet.Peer = item.From;
            have = TryNext(out item);
            if (!gro)
                continue;
            // As the kernel's UDP GRO: glue the following datagrams of the same sender while they are no longer than the
            // first (a shorter one ends the train), up to 64 of them and 64 KiB.
            int size = packet.Length, n = 1;
            while (have && item.From == packet.Peer && item.Payload.Length <= size && n < 64
                   && packet.Length + item.Payload.Length <= Math.Min(65535, packet.Writable.Length))
            {
                item.Payload.CopyTo(packet.Writable[packet.Length..]);
                packet.SetLength(packet.Length + item.Payload.Length);
                n++;
                bool shorter = item.Payload.Length < size;
                have = TryNext(out item);
                if (shorter)
                    break;
            }
            if (n > 1)
            {
                packet.Offload = new Dataplane.Offload.VirtioNetHeader(0, Dataplane.Offload.GsoType.UdpL4, 0, (ushort)size, 0, 0);
                Trains++;
            }
        }
        if (have)
            _peeked = item;
        return IoResult.Ok;
    }

    /// <summary>Datagrams waiting to be received (for a fake readiness waiter).</summary>
    public int Pending => _inbox.Count + (_peeked is null ? 0 : 1);

    public void Cancel() => _cancel.Cancel();
}
