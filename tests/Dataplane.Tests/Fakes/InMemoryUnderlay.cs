using System.Collections.Concurrent;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Packets;

namespace Dataplane.Tests.Fakes;

/// <summary>An in-memory UDP "network": sockets registered by endpoint; Send delivers to the matching socket.</summary>
internal sealed class InMemoryNetwork
{
    private readonly ConcurrentDictionary<UnderlayEndpoint, InMemoryUnderlay> _sockets = new();

    public InMemoryUnderlay Bind(string address, ushort port)
    {
        var s = new InMemoryUnderlay(this, new UnderlayEndpoint(Ipv4Address.Parse(address), port));
        _sockets[s.Local] = s;
        return s;
    }

    internal void Deliver(UnderlayEndpoint from, UnderlayEndpoint to, byte[] payload, byte tos)
    {
        if (_sockets.TryGetValue(to, out var target))
            target.Enqueue(from, payload, tos);
    }
}

internal sealed class InMemoryUnderlay : IUnderlay
{
    private readonly InMemoryNetwork _network;
    private readonly BlockingCollection<(UnderlayEndpoint From, byte[] Payload, byte Tos)> _inbox = new();
    private readonly CancellationTokenSource _cancel = new();

    public InMemoryUnderlay(InMemoryNetwork network, UnderlayEndpoint local)
    {
        _network = network;
        Local = local;
    }

    public UnderlayEndpoint Local { get; }

    /// <summary>TOS values of the datagrams sent, in order.</summary>
    public ConcurrentQueue<byte> SentTos { get; } = new();

    internal void Enqueue(UnderlayEndpoint from, byte[] payload, byte tos) => _inbox.Add((from, payload, tos));

    /// <summary>Injects a datagram as if <paramref name="from"/> had sent it.</summary>
    public void InjectFrom(string address, ushort port, byte[] payload) =>
        Enqueue(new UnderlayEndpoint(Ipv4Address.Parse(address), port), payload, 0);

    public IoResult Send(PacketBuffer packet)
    {
        SentTos.Enqueue(packet.OuterTos);
        _network.Deliver(Local, packet.Peer, packet.Data.ToArray(), packet.OuterTos);
        return IoResult.Ok;
    }

    public IoResult Receive(PacketBuffer packet)
    {
        try
        {
            var (from, payload, _) = _inbox.Take(_cancel.Token);
            if (payload.Length > packet.Writable.Length)
                return new IoResult(IoStatus.Truncated, payload.Length);
            packet.Load(payload);
            packet.Peer = from;
            return IoResult.Ok;
        }
        catch (OperationCanceledException)
        {
            return new IoResult(IoStatus.Closed);
        }
    }

    public IoResult TryReceive(PacketBuffer packet)
    {
        if (_cancel.IsCancellationRequested)
            return new IoResult(IoStatus.Closed);
        if (!_inbox.TryTake(out var item))
            return new IoResult(IoStatus.WouldBlock);
        if (item.Payload.Length > packet.Writable.Length)
            return new IoResult(IoStatus.Truncated, item.Payload.Length);
        packet.Load(item.Payload);
        packet.Peer = item.From;
        return IoResult.Ok;
    }

    /// <summary>Datagrams waiting to be received (for a fake readiness waiter).</summary>
    public int Pending => _inbox.Count;

    public void Cancel() => _cancel.Cancel();
}
