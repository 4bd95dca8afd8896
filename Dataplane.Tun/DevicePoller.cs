using Dataplane.Devices;

namespace Dataplane.Tun;

/// <summary>
/// Waits until the TUN or the UDP socket has something to read: the idle wait of the single-threaded pump, as flannel's
/// proxy polls <c>{tun, sock}</c> and then drains both until EAGAIN (proxy_amd64.c run_proxy).
/// </summary>
/// <remarks>One thread waits; <see cref="Cancel"/> from any thread wakes it for good.</remarks>
public sealed class DevicePoller : IReadinessWaiter, IDisposable
{
    private readonly LinuxTunDevice _tun;
    private readonly UdpUnderlay _udp;
    private readonly FdCanceller _canceller = new();

    /// <summary>Polls <paramref name="tun"/> and <paramref name="udp"/> (borrowed; the caller disposes them).</summary>
    public DevicePoller(LinuxTunDevice tun, UdpUnderlay udp)
    {
        _tun = tun;
        _udp = udp;
    }

    /// <inheritdoc/>
    public bool WaitReadable() => _canceller.WaitAnyReadable(_tun.Handle, _udp.Handle) == WaitResult.Ready;

    /// <inheritdoc/>
    public void Cancel() => _canceller.Cancel();

    /// <inheritdoc/>
    public void Dispose() => _canceller.Dispose();
}
