using System.Collections.Concurrent;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Offload;

namespace Dataplane.Tests.Fakes;

/// <summary>In-memory TUN: tests inject packets "from the kernel" and collect what the data path writes.</summary>
internal sealed class ChannelTunDevice(int batchSize = 8, TunOffloads offloads = TunOffloads.None) : ITunDevice
{
    private readonly BlockingCollection<(byte[] Packet, VirtioNetHeader Header)> _toRead = new();
    private readonly CancellationTokenSource _cancel = new();

    public string Name => "fake0";

    public int BatchSize => batchSize;

    public int MaxPacketSize => 65535;

    public int WriteHeadroom => offloads == TunOffloads.None ? 0 : VirtioNetHeader.Length;

    public TunOffloads Offloads => offloads;

    /// <summary>Packets the data path wrote into the TUN (towards the node's stack).</summary>
    public BlockingCollection<byte[]> Written { get; } = new();

    /// <summary>Offload headers of the written packets, in order.</summary>
    public ConcurrentQueue<VirtioNetHeader> WrittenHeaders { get; } = new();

    /// <summary>Queues a packet for the data path to read, with the offload header the kernel would give it.</summary>
    public void Inject(byte[] packet, VirtioNetHeader header = default) => _toRead.Add((packet, header));

    /// <summary>Reads that returned packets, and packets returned: the batch shape.</summary>
    public int Reads;

    public IoResult Read(Span<PacketBuffer> packets, bool wait, out int count)
    {
        count = 0;
        (byte[] Packet, VirtioNetHeader Header) item;
        try
        {
            if (_cancel.IsCancellationRequested)
                return new IoResult(IoStatus.Closed);
            if (wait)
                item = _toRead.Take(_cancel.Token);
            else if (!_toRead.TryTake(out item))
                return new IoResult(IoStatus.WouldBlock);
        }
        catch (OperationCanceledException)
        {
            return new IoResult(IoStatus.Closed);
        }
        int limit = Math.Min(packets.Length, batchSize);
        while (true)
        {
            packets[count].Load(item.Packet);
            packets[count].Offload = item.Header;
            count++;
            if (count == limit || !_toRead.TryTake(out item))
                break;
        }
        Interlocked.Increment(ref Reads);
        return IoResult.Ok;
    }

    /// <summary>Items waiting to be read (for a fake readiness waiter).</summary>
    public int Pending => _toRead.Count;

    /// <summary>When set, writes fail (verdict IoError) for packets this returns true for.</summary>
    public Func<byte[], bool>? FailWrite { get; set; }

    public IoResult Write(Span<PacketBuffer> packets)
    {
        if (_cancel.IsCancellationRequested)
            return new IoResult(IoStatus.Closed);
        foreach (var p in packets)
        {
            if (p.Verdict != DropReason.None)
                continue;
            var bytes = p.Data.ToArray();
            // As the kernel's tun_get_user for IFF_TUN|IFF_NO_PI: the protocol comes from the version nibble, and a
            // packet that is neither IPv4 nor IPv6 is refused (EINVAL). TunConformance holds both to it.
            bool notIp = bytes.Length == 0 || (bytes[0] >> 4 != 4 && bytes[0] >> 4 != 6);
            if (notIp || FailWrite?.Invoke(bytes) == true)
            {
                p.Verdict = DropReason.IoError;
                continue;
            }
            WrittenHeaders.Enqueue(p.Offload);
            Written.Add(bytes);
        }
        return IoResult.Ok;
    }

    public void Cancel() => _cancel.Cancel();

    /// <summary>Next written packet, or null after <paramref name="timeoutMs"/>.</summary>
    public byte[]? NextWritten(int timeoutMs = 5000) => Written.TryTake(out var p, timeoutMs) ? p : null;
}
