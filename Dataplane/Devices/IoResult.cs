using System.Runtime.InteropServices;

namespace Dataplane.Devices;

/// <summary>
/// Result of one device operation: a status and, for <see cref="IoStatus.Error"/>, the errno. An
/// 8-byte value, so returning it costs nothing and nothing throws per packet.
/// </summary>
/// <param name="Status">What happened.</param>
/// <param name="Errno">errno for <see cref="IoStatus.Error"/>; for <see cref="IoStatus.Truncated"/>, the datagram's real length; else 0.</param>
public readonly record struct IoResult(IoStatus Status, int Errno = 0)
{
    /// <summary>The packet moved.</summary>
    public bool IsOk => Status == IoStatus.Ok;

    /// <summary>Success.</summary>
    public static IoResult Ok => default;

    /// <inheritdoc/>
    public override string ToString() => Status switch
    {
        IoStatus.Error => $"Error: {Marshal.GetPInvokeErrorMessage(Errno)} (errno {Errno})",
        IoStatus.Truncated => $"Truncated: datagram of {Errno} bytes",
        _ => Status.ToString(),
    };
}
