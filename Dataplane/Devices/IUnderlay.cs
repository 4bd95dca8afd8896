using Dataplane.Buffers;

namespace Dataplane.Devices;

/// <summary>
/// The underlay side: a UDP socket bound to one local endpoint (a Linux socket in production, an in-memory pair in
/// tests), moving datagrams in batches. One receiver thread and one sender thread may use it concurrently.
/// </summary>
/// <remarks>Buffers and batches are borrowed: the caller owns them before and after each call.</remarks>
public interface IUnderlay
{
    /// <summary>Most datagrams one <see cref="Receive"/> returns. Fixed for the object's lifetime.</summary>
    int BatchSize { get; }

    /// <summary>
    /// True while the socket sends GSO trains (UDP_SEGMENT). May turn false at run time, once, when the kernel refuses
    /// segmentation on the route (EIO: no checksum offload on the device); the sender then falls back to one datagram
    /// per message by itself and counts it in <see cref="GsoFallbacks"/>.
    /// </summary>
    bool SegmentationOffload { get; }

    /// <summary>Times the kernel refused a GSO send and the underlay fell back (0 or 1 in practice).</summary>
    long GsoFallbacks { get; }

    /// <summary>
    /// True when a receive may return a GRO train: several same-sender datagrams of one size (the last may be shorter)
    /// in one buffer, described by <see cref="PacketBuffer.Offload"/> (GsoType UdpL4, GsoSize = the datagram size).
    /// </summary>
    bool ReceiveOffload { get; }

    /// <summary>
    /// Sends every message of <paramref name="batch"/>, setting each message's verdict (None, or IoError with its errno).
    /// Waits for room when the socket buffer is full (backpressure). Returns Closed once cancelled, otherwise Ok.
    /// </summary>
    IoResult Send(DatagramBatch batch);

    /// <summary>
    /// Receives up to <paramref name="packets"/>.Length datagrams into <see cref="PacketBuffer.Writable"/> at each
    /// buffer's offset, setting length and <see cref="PacketBuffer.Peer"/>. A datagram larger than the writable space is
    /// discarded and returned with verdict <see cref="Diagnostics.DropReason.TooBig"/> (never passed on cut short). With
    /// <paramref name="wait"/> it blocks until the first datagram. Returns Ok with <paramref name="count"/> ≥ 1,
    /// WouldBlock, Closed, or Error (count 0).
    /// </summary>
    IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count);

    /// <summary>Wakes a blocked <see cref="Receive"/> or <see cref="Send"/>, which then return Closed.</summary>
    void Cancel();
}
