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

    public InMemoryUnderlay Bind(string address, ushort port, int batchSize = 8, bool gso = false)
    {
        var s = new InMemoryUnderlay(this, new UnderlayEndpoint(Ipv4Address.Parse(address), port), batchSize, gso);
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
internal sealed class InMemoryUnderlay(InMemoryNetwork network, UnderlayEndpoint local, int batchSize, bool gso) : IUnderlay
{
    private readonly BlockingCollection<(UnderlayEndpoint From, byte[] Payload, byte Tos)> _inbox = new();
    private readonly CancellationTokenSource _cancel = new();

    public UnderlayEndpoint Local { get; } = local;

    public int BatchSize => batchSize;

    public bool SegmentationOffload => gso;

    public long GsoFallbacks => 0;

    /// <summary>TOS values of the datagrams sent, in order.</summary>
    public ConcurrentQueue<byte> SentTos { get; } = new();

    /// <summary>Per message sent: datagrams in it and its segment size.</summary>
    public ConcurrentQueue<(int Datagrams, int SegmentSize)> SentMessages { get; } = new();

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

    public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
    {
        count = 0;
        (UnderlayEndpoint From, byte[] Payload, byte Tos) item;
        try
        {
            if (_cancel.IsCancellationRequested)
                return new IoResult(IoStatus.Closed);
            if (wait)
                item = _inbox.Take(_cancel.Token);
            else if (!_inbox.TryTake(out item))
                return new IoResult(IoStatus.WouldBlock);
        }
        catch (OperationCanceledException)
        {
            return new IoResult(IoStatus.Closed);
        }
        int limit = Math.Min(packets.Length, batchSize);
        while (true)
        {
            var packet = packets[count++];
            if (item.Payload.Length > packet.Writable.Length)
            {
                packet.Verdict = DropReason.TooBig;
            }
            else
            {
                packet.Load(item.Payload);
                packet.Peer = item.From;
            }
            if (count == limit || !_inbox.TryTake(out item))
                break;
        }
        return IoResult.Ok;
    }

    /// <summary>Datagrams waiting to be received (for a fake readiness waiter).</summary>
    public int Pending => _inbox.Count;

    public void Cancel() => _cancel.Cancel();
}
