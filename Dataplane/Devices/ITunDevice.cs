using Dataplane.Buffers;

namespace Dataplane.Devices;

/// <summary>
/// The overlay side: a layer-3 device that yields and accepts bare IP packets (a Linux TUN in production, an
/// in-memory channel in tests). One reader thread and one writer thread may use it concurrently.
/// </summary>
/// <remarks>Buffers are borrowed: the caller owns every buffer before and after each call.</remarks>
public interface ITunDevice
{
    /// <summary>Interface name (e.g. flannel0).</summary>
    string Name { get; }

    /// <summary>
    /// Reads one packet into <see cref="PacketBuffer.Writable"/> at the buffer's current offset (headroom kept) and
    /// sets its length, waiting until one arrives; <see cref="IoStatus.Closed"/> once cancelled.
    /// </summary>
    IoResult Read(PacketBuffer packet);

    /// <summary>As <see cref="Read"/>, but returns <see cref="IoStatus.WouldBlock"/> at once when nothing is queued.</summary>
    IoResult TryRead(PacketBuffer packet);

    /// <summary>Writes <see cref="PacketBuffer.Data"/> as one IP packet.</summary>
    IoResult Write(PacketBuffer packet);

    /// <summary>Wakes a blocked <see cref="Read"/>, which then returns <see cref="IoStatus.Closed"/>.</summary>
    void Cancel();
}
