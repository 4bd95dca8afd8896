using Dataplane.Buffers;

namespace Dataplane.Devices;

/// <summary>
/// The overlay side: a layer-3 device that yields and accepts IP packets in batches (a Linux TUN in production, an
/// in-memory channel in tests). A single packet is a batch of one. One reader thread and one writer thread may use it
/// concurrently.
/// </summary>
/// <remarks>
/// <para>Buffers are borrowed: the caller owns every buffer before and after each call, and sizes them for
/// <see cref="MaxPacketSize"/> plus its own headroom.</para>
/// <para>With <see cref="Offloads"/> other than <see cref="TunOffloads.None"/> a read may return a super-packet (up to
/// 64 KiB, described by <see cref="PacketBuffer.Offload"/>) or a packet whose L4 checksum is partial; the reader splits
/// or completes it. A write passes <see cref="PacketBuffer.Offload"/> on to the kernel (zero: a plain packet).</para>
/// </remarks>
public interface ITunDevice
{
    /// <summary>Interface name (e.g. flannel0).</summary>
    string Name { get; }

    /// <summary>Most packets one <see cref="Read"/> returns. Fixed for the object's lifetime.</summary>
    int BatchSize { get; }

    /// <summary>Largest packet a read may return: the MTU for a plain TUN, 64 KiB with TSO/USO.</summary>
    int MaxPacketSize { get; }

    /// <summary>Headroom a buffer passed to <see cref="Write"/> must have beyond the packet (the 10-byte offload header).</summary>
    int WriteHeadroom { get; }

    /// <summary>Offloads in effect: what a read may hand over unfinished. Fixed for the object's lifetime.</summary>
    TunOffloads Offloads { get; }

    /// <summary>
    /// Reads up to <paramref name="packets"/>.Length packets, each into <see cref="PacketBuffer.Writable"/> at the buffer's
    /// current offset (headroom kept), setting its length and <see cref="PacketBuffer.Offload"/>. With
    /// <paramref name="wait"/> it blocks until the first packet arrives; it never waits for more. Returns Ok with
    /// <paramref name="count"/> ≥ 1, WouldBlock (nothing queued, only when not waiting), Closed once cancelled, or Error
    /// (count 0; the caller backs off).
    /// </summary>
    IoResult Read(Span<PacketBuffer> packets, bool wait, out int count);

    /// <summary>
    /// Writes every packet whose <see cref="PacketBuffer.Verdict"/> is None, in order, as one IP packet each; a packet
    /// the kernel refuses gets <see cref="Diagnostics.DropReason.IoError"/> as its verdict. Returns Closed once cancelled
    /// (the rest are not written), otherwise Ok.
    /// </summary>
    IoResult Write(Span<PacketBuffer> packets);

    /// <summary>Wakes a blocked <see cref="Read"/>, which then returns <see cref="IoStatus.Closed"/>.</summary>
    void Cancel();
}
