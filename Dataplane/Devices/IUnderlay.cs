using Dataplane.Buffers;

namespace Dataplane.Devices;

/// <summary>
/// The underlay side: a UDP socket bound to one local endpoint (a Linux socket in production, an in-memory pair
/// in tests). One receiver thread and any number of sender threads may use it concurrently.
/// </summary>
/// <remarks>Buffers are borrowed: the caller owns every buffer before and after each call.</remarks>
public interface IUnderlay
{
    /// <summary>
    /// Sends <see cref="PacketBuffer.Data"/> as one datagram to <see cref="PacketBuffer.Peer"/>, with
    /// <see cref="PacketBuffer.OuterTos"/> as the outer TOS where the implementation supports it.
    /// </summary>
    IoResult Send(PacketBuffer packet);

    /// <summary>
    /// Receives one datagram into <see cref="PacketBuffer.Writable"/> and sets <see cref="PacketBuffer.Peer"/>;
    /// a datagram larger than the writable space is <see cref="IoStatus.Truncated"/> (discarded, never cut short).
    /// </summary>
    IoResult Receive(PacketBuffer packet);

    /// <summary>As <see cref="Receive"/>, but returns <see cref="IoStatus.WouldBlock"/> at once when nothing is queued.</summary>
    IoResult TryReceive(PacketBuffer packet);

    /// <summary>Wakes a blocked <see cref="Receive"/>, which then returns <see cref="IoStatus.Closed"/>.</summary>
    void Cancel();
}
