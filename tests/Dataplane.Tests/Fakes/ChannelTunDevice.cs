using System.Collections.Concurrent;
using Dataplane.Buffers;
using Dataplane.Devices;

namespace Dataplane.Tests.Fakes;

/// <summary>In-memory TUN: tests inject packets "from the kernel" and collect what the data path writes.</summary>
internal sealed class ChannelTunDevice : ITunDevice
{
    private readonly BlockingCollection<byte[]> _toRead = new();
    private readonly CancellationTokenSource _cancel = new();

    public string Name => "fake0";

    /// <summary>Packets the data path wrote into the TUN (towards the node's stack).</summary>
    public BlockingCollection<byte[]> Written { get; } = new();

    /// <summary>Queues a packet for the data path to read.</summary>
    public void Inject(byte[] packet) => _toRead.Add(packet);

    public IoResult Read(PacketBuffer packet)
    {
        try
        {
            var bytes = _toRead.Take(_cancel.Token);
            packet.Load(bytes);
            return IoResult.Ok;
        }
        catch (OperationCanceledException)
        {
            return new IoResult(IoStatus.Closed);
        }
    }

    public IoResult TryRead(PacketBuffer packet)
    {
        if (_cancel.IsCancellationRequested)
            return new IoResult(IoStatus.Closed);
        if (!_toRead.TryTake(out var bytes))
            return new IoResult(IoStatus.WouldBlock);
        packet.Load(bytes);
        return IoResult.Ok;
    }

    /// <summary>Items waiting to be read (for a fake readiness waiter).</summary>
    public int Pending => _toRead.Count;

    public IoResult Write(PacketBuffer packet)
    {
        Written.Add(packet.Data.ToArray());
        return IoResult.Ok;
    }

    public void Cancel() => _cancel.Cancel();

    /// <summary>Next written packet, or null after <paramref name="timeoutMs"/>.</summary>
    public byte[]? NextWritten(int timeoutMs = 5000) => Written.TryTake(out var p, timeoutMs) ? p : null;
}
