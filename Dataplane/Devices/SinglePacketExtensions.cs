using Dataplane.Buffers;
using Dataplane.Diagnostics;

namespace Dataplane.Devices;

/// <summary>
/// One packet at a time over the batch seams, for tests, tools and slow paths: a single packet is a batch of one. The
/// pumps never use these (<see cref="Send(IUnderlay, PacketBuffer)"/> allocates a batch per call).
/// </summary>
public static class SinglePacketExtensions
{
    /// <summary>Reads one packet, waiting for it.</summary>
    public static IoResult Read(this ITunDevice tun, PacketBuffer packet) => tun.Read(new Span<PacketBuffer>(ref packet), wait: true, out _);

    /// <summary>Reads one packet if one is queued (WouldBlock otherwise).</summary>
    public static IoResult TryRead(this ITunDevice tun, PacketBuffer packet) => tun.Read(new Span<PacketBuffer>(ref packet), wait: false, out _);

    /// <summary>Writes one packet; Error when the kernel refused it.</summary>
    public static IoResult Write(this ITunDevice tun, PacketBuffer packet)
    {
        packet.Verdict = DropReason.None;
        var result = tun.Write(new Span<PacketBuffer>(ref packet));
        return result.IsOk && packet.Verdict != DropReason.None ? new IoResult(IoStatus.Error) : result;
    }

    /// <summary>Sends <see cref="PacketBuffer.Data"/> as one datagram to <see cref="PacketBuffer.Peer"/> with <see cref="PacketBuffer.OuterTos"/>.</summary>
    public static IoResult Send(this IUnderlay underlay, PacketBuffer packet)
    {
        var batch = new DatagramBatch(1, 2);
        batch.TryAdd(packet);
        var result = underlay.Send(batch);
        ref var m = ref batch.Messages[0];
        return result.IsOk && m.Verdict != DropReason.None ? new IoResult(IoStatus.Error, m.Errno) : result;
    }

    /// <summary>As <see cref="Send(IUnderlay, PacketBuffer)"/> with this datagram's outer TOS byte.</summary>
    public static IoResult Send(this IUnderlay underlay, PacketBuffer packet, byte tos)
    {
        packet.OuterTos = tos;
        return underlay.Send(packet);
    }

    /// <summary>Receives one datagram, waiting for it; Truncated (discarded) when it did not fit.</summary>
    public static IoResult Receive(this IUnderlay underlay, PacketBuffer packet) => ReceiveOne(underlay, packet, wait: true);

    /// <summary>Receives one datagram if one is queued.</summary>
    public static IoResult TryReceive(this IUnderlay underlay, PacketBuffer packet) => ReceiveOne(underlay, packet, wait: false);

    private static IoResult ReceiveOne(IUnderlay underlay, PacketBuffer packet, bool wait)
    {
        packet.Verdict = DropReason.None;
        var result = underlay.Receive(new Span<PacketBuffer>(ref packet), wait, out _);
        return result.IsOk && packet.Verdict == DropReason.TooBig ? new IoResult(IoStatus.Truncated) : result;
    }
}
